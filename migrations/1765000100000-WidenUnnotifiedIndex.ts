import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The notifier also mails `gate-waiting` (issue 14), which the partial index
 * of un-notified events did not cover: its question then read the events
 * table by primary key from the start, every tick (188 ms at 67,000 events,
 * growing with the table). The index covers every type it asks for now.
 */
export class WidenUnnotifiedIndex1765000100000 implements MigrationInterface {
  name = 'WidenUnnotifiedIndex1765000100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX events_unnotified`);
    await q.query(`CREATE INDEX events_unnotified ON events (id)
                   WHERE notified_at IS NULL AND type IN ('running', 'complete', 'failed', 'gate-waiting')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX events_unnotified`);
    await q.query(`CREATE INDEX events_unnotified ON events (id)
                   WHERE notified_at IS NULL AND type IN ('running', 'complete', 'failed')`);
  }
}
