import { Database } from '@wfs/persistence';
import { Dispatcher } from '@wfs/dispatch';
import { WorkflowCatalog } from '@wfs/workflows';
import { lockRun } from './run-model';
import { submitLocked } from './submit-run';

/**
 * The user's submit of a `created` run: its jobs planned and the ready ones
 * queued once committed (submit-run.ts writes the plan).
 */
export class SubmitRun {
  constructor(
    private readonly db: Database,
    private readonly catalog: WorkflowCatalog,
    private readonly dispatcher: Dispatcher,
    private readonly limits: { maxJobsPerRun: number },
  ) {}

  async execute(runId: number): Promise<void> {
    const ready = await this.db.transaction(async (tx) => {
      const run = await lockRun(tx, runId);
      const def = await this.catalog.getByDigest(run.workflow_digest);
      return (await submitLocked(tx, run, def, this.limits.maxJobsPerRun)).ready;
    });
    await this.dispatcher.enqueue(ready);
  }
}
