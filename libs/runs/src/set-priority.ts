import { conflict, invalid } from '@wfs/domain';
import { Database } from '@wfs/persistence';
import { SCHEDULE_CHANNEL } from './job-store-sql';
import { lockRun, updateRun } from './run-model';

/** An operator changes a run's priority: it applies to the jobs not yet started. */
export class SetPriority {
  constructor(private readonly db: Database) {}

  async execute(runId: number, priority: number): Promise<void> {
    if (!Number.isInteger(priority) || priority < 0 || priority > 100)
      throw invalid('INVALID_REQUEST', 'priority must be an integer from 0 to 100.', {
        fields: { priority: 'must be an integer from 0 to 100' },
      });
    await this.db.transaction(async (tx) => {
      const run = await lockRun(tx, runId);
      if (!['created', 'submitted', 'running'].includes(run.state))
        throw conflict(
          'RUN_FINISHED',
          `Run ${runId} is ${run.state}: its priority no longer matters.`,
          {
            runId,
            state: run.state,
          },
        );
      await updateRun(tx, runId, { priority });
      // The instances not started yet carry it (the scheduler's ready index leads with it).
      await tx.query(
        `UPDATE jobs SET priority = $2 WHERE run_id = $1 AND state IN ('idle', 'held') AND priority <> $2`,
        [runId, priority],
      );
      await tx.query(`SELECT pg_notify('${SCHEDULE_CHANNEL}', '')`);
    });
  }
}
