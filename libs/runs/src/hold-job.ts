import { EventActor, holdJob, JobFacts, notFound, releaseJob } from '@wfs/domain';
import { Database } from '@wfs/persistence';
import { WorkflowCatalog } from '@wfs/workflows';
import { JobStore } from './job-store';

type InstanceKey = { runId: number; name: string; index: number };

/**
 * Holds and releases job instances (condor_hold / condor_release): an
 * operator's, one instance at a time with its errors (404, 409), and the
 * scheduler's (`no_matching_worker`), many at a time, skipping any that moved
 * on meanwhile. Each is the domain's holdJob / releaseJob applied by the job
 * store; a running attempt held is stopped by its worker (STOP_CHANNEL) and
 * not counted as a failure.
 */
export class HoldJobs {
  constructor(
    private readonly db: Database,
    private readonly catalog: WorkflowCatalog,
  ) {}

  /** An operator's hold: `held_by_operator: <reason>`. */
  hold(key: InstanceKey, reason: string, actor: EventActor): Promise<void> {
    return this.one(key, (store, job) =>
      holdJob(store.run(key.runId), job, `held_by_operator: ${reason}`, actor),
    );
  }

  release(key: InstanceKey, actor: EventActor): Promise<void> {
    return this.one(key, (store, job) => releaseJob(store.run(key.runId), job, actor));
  }

  /** The scheduler's holds of instances still idle and unplaced; returns how many it held. */
  async holdIdle(keys: ReadonlyArray<InstanceKey & { reason: string }>): Promise<number> {
    return this.many(keys, (store, job, k) =>
      job.state === 'idle' && job.assignedTo === null
        ? holdJob(store.run(k.runId), job, (k as InstanceKey & { reason: string }).reason)
        : null,
    );
  }

  /** Releases instances the scheduler held (still held). */
  async releaseHeld(keys: readonly InstanceKey[]): Promise<number> {
    return this.many(keys, (store, job) =>
      job.state === 'held' ? releaseJob(store.run(job.runId), job) : null,
    );
  }

  private async one(
    key: InstanceKey,
    change: (store: JobStore, job: JobFacts) => ReturnType<typeof holdJob>,
  ): Promise<void> {
    await this.db.transaction(async (tx) => {
      const store = await JobStore.load(tx, this.catalog, { keys: [key] });
      const job = store.exists(key.runId) ? store.job(key) : undefined;
      if (!job) throw notFound('job', `${key.runId}/${key.name}/${key.index}`);
      store.apply(key.runId, change(store, job));
      await store.flush(tx);
    });
  }

  private async many(
    keys: readonly InstanceKey[],
    change: (
      store: JobStore,
      job: JobFacts & { runId: number },
      key: InstanceKey,
    ) => ReturnType<typeof holdJob> | null,
  ): Promise<number> {
    if (keys.length === 0) return 0;
    return this.db.transaction(async (tx) => {
      const store = await JobStore.load(tx, this.catalog, { keys });
      let n = 0;
      for (const k of keys) {
        const job = store.exists(k.runId) ? store.job(k) : undefined;
        if (!job || !['submitted', 'running'].includes(store.run(k.runId).state)) continue;
        const c = change(store, { ...job, runId: k.runId }, k);
        if (!c) continue;
        store.apply(k.runId, c);
        n++;
      }
      await store.flush(tx);
      return n;
    });
  }
}
