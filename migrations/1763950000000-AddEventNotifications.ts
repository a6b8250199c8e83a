import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Run notices by mail: the events outbox says which `running`, `complete` and
 * `failed` events have been turned into mail jobs (notified_at); the partial
 * index keeps the notifier's "what is left" question cheap however long the
 * table grows.
 */
export class AddEventNotifications1763950000000 implements MigrationInterface {
  name = 'AddEventNotifications1763950000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE events ADD COLUMN notified_at timestamptz`);
    // Events written before this migration are history: nobody wants their mail now.
    await q.query(
      `UPDATE events SET notified_at = created_at WHERE type IN ('running', 'complete', 'failed')`,
    );
    await q.query(`CREATE INDEX events_unnotified ON events (id)
                   WHERE notified_at IS NULL AND type IN ('running', 'complete', 'failed')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX events_unnotified`);
    await q.query(`ALTER TABLE events DROP COLUMN notified_at`);
  }
}
