import { WfsError } from '@wfs/domain';
import { Database } from '@wfs/persistence';
import { WorkflowCatalog } from '@wfs/workflows';
import { DecideGate } from './decide-gate';

interface Log {
  warn(m: string): void;
}

/** Who decides a gate that timed out, as its events show it. */
const TIMEOUT_ACTOR = { name: 'wfs (gate timeout)', role: 'admin' };

/**
 * Gates with `onTimeout` (WORKFLOWS v1.1) decide themselves once they have
 * waited their `timeout`: approved or rejected through the same door as a
 * person's decision, with a comment saying so. Every worker runs it; a gate
 * already decided (by a person, or another worker) is left alone (409).
 */
export class GateTimeouts {
  constructor(
    private readonly db: Database,
    private readonly catalog: WorkflowCatalog,
    private readonly gates: DecideGate,
    private readonly log: Log,
  ) {}

  async tick(): Promise<number> {
    const waiting = await this.db.query<{
      run_id: string;
      name: string;
      digest: string;
      waited: number;
    }>(
      `SELECT j.run_id, j.name, r.workflow_digest AS digest,
              extract(epoch FROM now() - j.dispatched_at)::float8 AS waited
       FROM jobs j JOIN runs r ON r.id = j.run_id
       WHERE j.state = 'waiting' AND j.dispatched_at IS NOT NULL
       ORDER BY j.dispatched_at LIMIT 1000`,
    );
    let decided = 0;
    for (const w of waiting) {
      const def = (await this.catalog.getByDigest(w.digest)).jobs.find((j) => j.name === w.name);
      if (!def?.onTimeout || w.waited < def.timeout) continue;
      const comment = `no decision within ${def.timeout} s: ${def.onTimeout === 'approve' ? 'approved' : 'rejected'} by its onTimeout`;
      try {
        if (def.onTimeout === 'approve')
          await this.gates.approve(Number(w.run_id), w.name, TIMEOUT_ACTOR, { comment });
        else await this.gates.reject(Number(w.run_id), w.name, TIMEOUT_ACTOR, comment);
        decided++;
      } catch (e) {
        if (!(e instanceof WfsError && e.kind === 'conflict'))
          this.log.warn(`gate ${w.name} of run ${w.run_id}: ${(e as Error).message}`);
      }
    }
    return decided;
  }
}
