import { transitionRun } from '@wfs/domain';
import { appendEvents } from '@wfs/events';
import { Database } from '@wfs/persistence';
import { WorkflowCatalog } from '@wfs/workflows';
import { lockRun, snapshotOf, updateRun } from './run-model';
import { settleSource } from './ingestion-outcome';

/** The Postgres channel told (on commit) which run was cancelled or failed: workers kill its processes. */
export const CANCEL_CHANNEL = 'wfs_cancel';

/** The user's cancel of a run. */
export class CancelRun {
  constructor(
    private readonly db: Database,
    private readonly catalog: WorkflowCatalog,
  ) {}

  /**
   * Cancels a run: jobs not finished are removed, running processes are told
   * to stop (NOTIFY on commit; each worker kills its process groups).
   */
  async execute(runId: number, actor: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const run = await lockRun(tx, runId);
      const next = transitionRun(runId, run.state, 'cancel');
      const stopped = await tx.query<{
        name: string;
        idx: number;
        attempts: number;
        exit_code: number | null;
      }>(
        `UPDATE jobs SET state = 'removed', status_reason = 'cancelled', finished_at = now()
         WHERE run_id = $1 AND state = 'running' RETURNING name, idx, attempts, exit_code`,
        [runId],
      );
      await tx.query(
        `UPDATE jobs SET state = 'removed', status_reason = 'cancelled' WHERE run_id = $1 AND state IN ('idle', 'held')`,
        [runId],
      );
      const updated = await updateRun(tx, runId, {
        state: next,
        finished_at: new Date(),
        error: { code: 'cancelled', message: `cancelled by ${actor}` },
      });
      const snap = snapshotOf(updated);
      const stages = new Map(
        (await this.catalog.getByDigest(run.workflow_digest)).jobs.map((j) => [j.name, j.stage]),
      );
      await appendEvents(tx, snap, [
        ...stopped.map((j) => ({
          type: 'job-failed' as const,
          job: {
            name: j.name,
            index: j.idx,
            state: 'removed' as const,
            attempts: j.attempts,
            exitCode: j.exit_code,
            statusReason: 'cancelled',
            stage: stages.get(j.name) ?? '',
          },
        })),
        { type: 'cancelled' },
      ]);
      await settleSource(
        tx,
        updated,
        await this.catalog.getByDigest(run.workflow_digest),
        'failed',
      );
      await tx.query(`SELECT pg_notify('${CANCEL_CHANNEL}', $1)`, [String(runId)]);
    });
  }
}
