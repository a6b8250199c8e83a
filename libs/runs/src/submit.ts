import { Database } from '@wfs/persistence';
import { WorkflowCatalog } from '@wfs/workflows';
import { lockRun } from './run-model';
import { submitLocked } from './submit-run';

/**
 * The user's submit of a `created` run: its jobs planned, the ready ones left
 * to the scheduler (submit-run.ts writes the plan).
 */
export class SubmitRun {
  constructor(
    private readonly db: Database,
    private readonly catalog: WorkflowCatalog,
    private readonly limits: { maxJobsPerRun: number },
  ) {}

  async execute(runId: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      const run = await lockRun(tx, runId);
      const def = await this.catalog.getByDigest(run.workflow_digest);
      await submitLocked(tx, run, def, this.limits.maxJobsPerRun);
    });
  }
}
