import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A summary group's `group-progress` counts its failed instances through this
 * index (few, usually none), its running ones through `jobs_placed` and its
 * held ones through `jobs_held`; `completed` is kept on job_groups. None of
 * them reads the group's instances, which a million-instance run has
 * hundreds of thousands of per group.
 */
export class AddFailedIndex1765000000000 implements MigrationInterface {
  name = 'AddFailedIndex1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE INDEX jobs_failed ON jobs (run_id, name) WHERE state IN ('failed', 'removed')`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX jobs_failed`);
  }
}
