import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Scheduling like a batch system: what each worker has (its partitionable
 * slot), which worker an idle instance is placed on (`jobs.worker_id` while
 * idle: reserved there, its message on that worker's queue), run priority,
 * named concurrency limits, paused workflows (with their own outbox), and
 * why a ready group waits.
 */
export class AddScheduling1764100000000 implements MigrationInterface {
  name = 'AddScheduling1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE workers
        ADD COLUMN executor text NOT NULL DEFAULT 'local',
        ADD COLUMN cpus integer NOT NULL DEFAULT 1,
        ADD COLUMN memory_mb bigint NOT NULL DEFAULT 0,
        ADD COLUMN gpus integer NOT NULL DEFAULT 0,
        ADD COLUMN labels text[] NOT NULL DEFAULT '{}',
        ADD COLUMN slots integer NOT NULL DEFAULT 8,
        ADD COLUMN queue text NOT NULL DEFAULT ''`);
    await q.query(
      `ALTER TABLE runs ADD COLUMN priority smallint NOT NULL DEFAULT 50 CHECK (priority BETWEEN 0 AND 100)`,
    );
    // The run's priority on each instance, so the ready index can lead with it.
    await q.query(`ALTER TABLE jobs ADD COLUMN priority smallint NOT NULL DEFAULT 50`);
    // Attempts an operator's hold stopped: not failures, so not counted against retries.
    await q.query(`ALTER TABLE jobs ADD COLUMN uncounted_attempts integer NOT NULL DEFAULT 0`);
    await q.query(`ALTER TABLE jobs ADD COLUMN assigned_at timestamptz`);
    await q.query(`ALTER TABLE job_groups ADD COLUMN waiting_for text`);
    await q.query(`
      CREATE TABLE workflow_pauses (
        workflow  text PRIMARY KEY,
        paused_by text NOT NULL,
        reason    text NOT NULL,
        paused_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE concurrency_limits (
        name       text PRIMARY KEY,
        max        integer NOT NULL CHECK (max >= 0),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    // Workflow-level messages (workflow.<name>.paused|unpaused): the relay publishes them too.
    await q.query(`
      CREATE TABLE workflow_events (
        id           bigserial PRIMARY KEY,
        workflow     text NOT NULL,
        type         text NOT NULL,
        body         jsonb NOT NULL,
        published_at timestamptz
      )`);
    await q.query(
      `CREATE INDEX workflow_events_unpublished ON workflow_events (id) WHERE published_at IS NULL`,
    );
    // The scheduler's candidates: ready instances not placed yet, by priority, then run (its turns
    // walk this index run by run), then plan order.
    await q.query(`CREATE INDEX jobs_ready ON jobs (priority DESC, run_id, position, idx)
                   WHERE state = 'idle' AND dispatched_at IS NOT NULL AND worker_id IS NULL`);
    // What each worker has in hand, placed (idle, reserved) or running: what the scheduler counts,
    // the reconciler re-sends when Redis lost it, and the recovery takes back from a dead worker.
    // It replaces jobs_queued and jobs_running (one index less to write on every transition).
    await q.query(`CREATE INDEX jobs_placed ON jobs (worker_id)
                   WHERE worker_id IS NOT NULL AND state IN ('idle', 'running')`);
    await q.query(`CREATE INDEX jobs_held ON jobs (run_id) WHERE state = 'held'`);
    // The live runs by priority and id: the scheduler's turns walk it (a few entries a pass).
    await q.query(`CREATE INDEX runs_active ON runs (priority DESC, id)
                   WHERE state IN ('submitted', 'running')`);
    await q.query(`DROP INDEX jobs_queued`);
    await q.query(`DROP INDEX jobs_running`);
    // Instances made ready before this migration were sent to the shared queue: place them again.
    await q.query(`UPDATE jobs SET worker_id = NULL WHERE state = 'idle'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX jobs_running ON jobs (worker_id) WHERE state = 'running'`);
    await q.query(
      `CREATE INDEX jobs_queued ON jobs (dispatched_at) WHERE state = 'idle' AND dispatched_at IS NOT NULL`,
    );
    await q.query(`DROP INDEX runs_active`);
    await q.query(`DROP INDEX jobs_held`);
    await q.query(`DROP INDEX jobs_placed`);
    await q.query(`DROP INDEX jobs_ready`);
    await q.query(`DROP TABLE workflow_events`);
    await q.query(`DROP TABLE concurrency_limits`);
    await q.query(`DROP TABLE workflow_pauses`);
    await q.query(`ALTER TABLE job_groups DROP COLUMN waiting_for`);
    await q.query(`ALTER TABLE jobs DROP COLUMN assigned_at`);
    await q.query(`ALTER TABLE jobs DROP COLUMN uncounted_attempts`);
    await q.query(`ALTER TABLE jobs DROP COLUMN priority`);
    await q.query(`ALTER TABLE runs DROP COLUMN priority`);
    await q.query(`ALTER TABLE workers DROP COLUMN executor, DROP COLUMN cpus, DROP COLUMN memory_mb,
                   DROP COLUMN gpus, DROP COLUMN labels, DROP COLUMN slots, DROP COLUMN queue`);
  }
}
