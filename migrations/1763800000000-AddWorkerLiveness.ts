import { MigrationInterface, QueryRunner } from 'typeorm';

/** Workers announce themselves; a running job names its worker, so a dead worker's jobs can be found. */
export class AddWorkerLiveness1763800000000 implements MigrationInterface {
  name = 'AddWorkerLiveness1763800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE workers (
        id         text PRIMARY KEY,
        host       text NOT NULL,
        pid        integer NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        last_seen  timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`ALTER TABLE jobs ADD COLUMN worker_id text`);
    await q.query(`DROP INDEX jobs_live`);
    // The reconciler's two questions: which running jobs lost their worker, which queued ones lost their message.
    await q.query(`CREATE INDEX jobs_running ON jobs (worker_id) WHERE state = 'running'`);
    await q.query(
      `CREATE INDEX jobs_queued ON jobs (dispatched_at) WHERE state = 'idle' AND dispatched_at IS NOT NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX jobs_queued`);
    await q.query(`DROP INDEX jobs_running`);
    await q.query(
      `CREATE INDEX jobs_live ON jobs (run_id) WHERE state IN ('idle', 'running') AND dispatched_at IS NOT NULL`,
    );
    await q.query(`ALTER TABLE jobs DROP COLUMN worker_id`);
    await q.query(`DROP TABLE workers`);
  }
}
