import { cancelRun, EventActor, notFound } from '@wfs/domain';
import { Database } from '@wfs/persistence';
import { WorkflowCatalog } from '@wfs/workflows';
import { JobStore } from './job-store';

export { CANCEL_CHANNEL } from './job-store';

/** The user's cancel of a run. */
export class CancelRun {
  constructor(
    private readonly db: Database,
    private readonly catalog: WorkflowCatalog,
  ) {}

  /**
   * Cancels a run: jobs not finished are removed, running processes are told
   * to stop (NOTIFY on commit; each worker kills its process groups). The
   * domain's cancel over the run and its running instances, applied by the
   * job store like every other job transition.
   */
  async execute(runId: number, actor: EventActor): Promise<void> {
    await this.db.transaction(async (tx) => {
      const store = await JobStore.load(tx, this.catalog, { keys: [], runningOf: [runId] });
      if (!store.exists(runId)) throw notFound('run', runId);
      store.apply(runId, cancelRun(store.run(runId), store.runningJobs(runId), actor));
      await store.flush(tx);
    });
  }
}
