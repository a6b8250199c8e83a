import { Database, Tx } from '@wfs/persistence';

type Op<T> = (tx: Tx) => Promise<T>;
interface Pending {
  op: Op<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** Ops of one run taken into one transaction at most. */
const BATCH = 200;

/**
 * Group commit per run. Every change of a run holds its row lock until
 * commit, so the job transitions of one run are serial anyway; instead of
 * queueing on the lock one transaction at a time, the changes this process
 * has for a run are taken together: one transaction, one lock wait, one
 * commit for up to BATCH of them, in the order they were asked for. If a
 * batch fails, each of its ops is tried again alone, so one op's error is
 * never another's.
 */
export class RunLanes {
  private readonly lanes = new Map<number, Pending[]>();

  constructor(private readonly db: Database) {}

  run<T>(runId: number, op: Op<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const lane = this.lanes.get(runId);
      const pending: Pending = { op, resolve: resolve as (v: unknown) => void, reject };
      if (lane) {
        lane.push(pending);
        return;
      }
      this.lanes.set(runId, [pending]);
      void this.drain(runId);
    });
  }

  private async drain(runId: number): Promise<void> {
    for (;;) {
      const lane = this.lanes.get(runId) as Pending[];
      if (lane.length === 0) {
        this.lanes.delete(runId);
        return;
      }
      const batch = lane.splice(0, BATCH);
      let results: unknown[] | null = null;
      try {
        results = await this.db.transaction(async (tx) => {
          const out: unknown[] = [];
          for (const p of batch) out.push(await p.op(tx));
          return out;
        });
      } catch {
        results = null;
      }
      if (results) {
        batch.forEach((p, i) => p.resolve(results[i]));
        continue;
      }
      for (const p of batch) {
        await this.db.transaction((tx) => p.op(tx)).then(p.resolve, p.reject);
      }
    }
  }
}
