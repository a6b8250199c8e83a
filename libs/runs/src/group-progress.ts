import type { GroupProgress } from '@wfs/domain';
import { Database } from '@wfs/persistence';
import { WorkflowCatalog } from '@wfs/workflows';
import { changeRun, lockRun } from './run-model';

interface Log {
  warn(m: string): void;
}

/** At most one group-progress per group per this many milliseconds while it changes (CONTRACT 5.8). */
export const PROGRESS_INTERVAL_MS = 1000;

/**
 * Sends the `group-progress` events summary groups (`events: summary`) owe:
 * a group whose instances changed since its last one (`progress_due`, set by
 * the job store in the transaction of the change) gets one when its last is
 * at least a second old, with the counts of its instances by state (kept
 * counts: nothing here reads the group's instances), through
 * the one outbox writer (the run's row lock numbers it after the run's other
 * events: sequences stay gapless). Every worker runs it; the guarded UPDATE
 * after the run's lock makes one of them send each. The group's last one is
 * written by the job store itself, in the transaction that completes it.
 */
export class GroupProgressSender {
  constructor(
    private readonly db: Database,
    private readonly catalog: WorkflowCatalog,
    private readonly log: Log,
  ) {}

  async tick(): Promise<number> {
    const due = await this.db.query<{ run_id: string; name: string }>(
      `SELECT run_id, name FROM job_groups
       WHERE progress_due
         AND (progress_at IS NULL OR progress_at <= now() - $1 * interval '1 millisecond')
       ORDER BY run_id, name LIMIT 500`,
      [PROGRESS_INTERVAL_MS],
    );
    let sent = 0;
    for (const g of due) {
      try {
        if (await this.send(Number(g.run_id), g.name)) sent++;
      } catch (e) {
        this.log.warn(`group-progress of ${g.name} in run ${g.run_id}: ${(e as Error).message}`);
      }
    }
    return sent;
  }

  private send(runId: number, name: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const run = await lockRun(tx, runId);
      const [group] = await tx.query<{ instances: number; completed: number }>(
        `UPDATE job_groups SET progress_due = false, progress_at = now()
         WHERE run_id = $1 AND name = $2 AND progress_due RETURNING instances, completed`,
        [runId, name],
      );
      // Sent by another worker meanwhile, or the run ended: its own terminal event says the rest.
      if (!group || (run.state !== 'submitted' && run.state !== 'running')) return false;
      // Kept counts, never a count of the group's instances (hundreds of thousands in a big
      // scatter, read every second under the run's lock): completed is the group's own counter,
      // the live, held and failed instances are few and each has a partial index (jobs_placed,
      // jobs_held, jobs_failed); the rest are idle.
      const [c] = await tx.query<{ running: number; held: number; failed: number }>(
        `SELECT (SELECT count(*) FROM jobs WHERE worker_id IS NOT NULL AND state IN ('idle', 'running')
                   AND state = 'running' AND run_id = $1 AND name = $2)::int AS running,
                (SELECT count(*) FROM jobs WHERE state = 'held' AND run_id = $1 AND name = $2)::int AS held,
                (SELECT count(*) FROM jobs WHERE state IN ('failed', 'removed')
                   AND run_id = $1 AND name = $2)::int AS failed`,
        [runId, name],
      );
      const total = Number(group.instances);
      const completed = Number(group.completed);
      const { running, held, failed } = c ?? { running: 0, held: 0, failed: 0 };
      const def = await this.catalog.getByDigest(run.workflow_digest);
      const progress: GroupProgress = {
        job: name,
        stage: def.jobs.find((j) => j.name === name)?.stage ?? '',
        total,
        idle: Math.max(0, total - completed - running - held - failed),
        running,
        completed,
        failed,
        held,
      };
      await changeRun(tx, run, {}, [{ type: 'group-progress', progress }]);
      return true;
    });
  }
}
