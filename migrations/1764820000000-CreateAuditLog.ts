import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit log (CONTRACT 5.6): one row per call that changes something and
 * per 401/403. Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE for
 * every role, the table's owner (the service's role) included. Only dropping
 * the trigger (its owner or a superuser, in a migration or by hand) lifts it.
 */
export class CreateAuditLog1764820000000 implements MigrationInterface {
  name = 'CreateAuditLog1764820000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        actor_token text,
        actor_role text,
        action text NOT NULL,
        target_run_id bigint,
        target_workflow text,
        target_job text,
        target_index integer,
        outcome_status integer NOT NULL,
        outcome_code text,
        details jsonb NOT NULL DEFAULT '{}'::jsonb,
        remote_ip text,
        remote_user_agent text,
        request_method text NOT NULL,
        request_path text NOT NULL
      )`);
    // Newest first, by id; each filter walks its own index in that order.
    await q.query(`CREATE INDEX audit_run ON audit (target_run_id, id DESC)`);
    await q.query(`CREATE INDEX audit_actor ON audit (actor_token, id DESC)`);
    await q.query(`CREATE INDEX audit_action ON audit (action, id DESC)`);
    await q.query(`CREATE INDEX audit_at ON audit (at)`);
    await q.query(`
      CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'the audit log is append-only: % is refused', TG_OP
          USING ERRCODE = 'insufficient_privilege';
      END
      $$`);
    await q.query(`
      CREATE TRIGGER audit_no_update_or_delete BEFORE UPDATE OR DELETE ON audit
      FOR EACH ROW EXECUTE FUNCTION audit_is_append_only()`);
    await q.query(`
      CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
      FOR EACH STATEMENT EXECUTE FUNCTION audit_is_append_only()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE audit`);
    await q.query(`DROP FUNCTION audit_is_append_only()`);
  }
}
