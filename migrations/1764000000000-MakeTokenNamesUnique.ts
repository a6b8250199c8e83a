import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A token's name is how operators tell tokens apart (listing, revoking, the
 * audit trail): unique among tokens that are not revoked. Duplicates already
 * there keep their first holder's name; the others get their id appended.
 */
export class MakeTokenNamesUnique1764000000000 implements MigrationInterface {
  name = 'MakeTokenNamesUnique1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`UPDATE api_tokens t SET name = t.name || '-' || t.id
                   WHERE t.revoked_at IS NULL AND EXISTS (
                     SELECT 1 FROM api_tokens o
                     WHERE o.name = t.name AND o.revoked_at IS NULL AND o.id < t.id)`);
    await q.query(`CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name)
                   WHERE revoked_at IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX api_tokens_active_name`);
  }
}
