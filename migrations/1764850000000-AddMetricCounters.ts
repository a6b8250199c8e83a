import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What the workers observe for /metrics (the API serves it): counters and job
 * duration histograms, added to every few seconds by each worker, so they
 * survive restarts and reach the API whichever worker saw them.
 */
export class AddMetricCounters1764850000000 implements MigrationInterface {
  name = 'AddMetricCounters1764850000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE metric_counters (
        name  text PRIMARY KEY,
        value bigint NOT NULL
      )`);
    // buckets[i]: attempts that took at most the i-th bound (not cumulative); the last, the rest.
    await q.query(`
      CREATE TABLE metric_job_durations (
        workflow text NOT NULL,
        job      text NOT NULL,
        buckets  bigint[] NOT NULL,
        count    bigint NOT NULL,
        sum      double precision NOT NULL,
        PRIMARY KEY (workflow, job)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE metric_job_durations`);
    await q.query(`DROP TABLE metric_counters`);
  }
}
