import { MigrationInterface, QueryRunner } from 'typeorm';

/** Requests, runs, their files and jobs, the events outbox, idempotency keys, tokens. */
export class CreateCoreTables1763700000000 implements MigrationInterface {
  name = 'CreateCoreTables1763700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE workflow_definitions (
        digest      text PRIMARY KEY,
        name        text NOT NULL,
        version     integer NOT NULL,
        definition  jsonb NOT NULL,
        loaded_at   timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE requests (
        id          bigserial PRIMARY KEY,
        workflow    text NOT NULL,
        subject     text,
        sealed      boolean NOT NULL DEFAULT false,
        created_at  timestamptz NOT NULL DEFAULT now()
      )`);
    // One open request per subject and workflow: versions accumulate there.
    await q.query(`CREATE UNIQUE INDEX requests_open_subject ON requests (workflow, subject)
                   WHERE subject IS NOT NULL AND NOT sealed`);
    await q.query(`
      CREATE TABLE runs (
        id               bigserial PRIMARY KEY,
        request_id       bigint NOT NULL REFERENCES requests(id),
        version          integer NOT NULL,
        workflow         text NOT NULL,
        workflow_version integer NOT NULL,
        workflow_digest  text NOT NULL REFERENCES workflow_definitions(digest),
        subject          text,
        correlation_id   text,
        parameters       jsonb NOT NULL,
        state            text NOT NULL,
        qa_state         text NOT NULL,
        archive_state    text NOT NULL DEFAULT 'not_ingested',
        disk_state       text NOT NULL,
        processing_dir   text,
        results_dir      text,
        source_run_id    bigint REFERENCES runs(id),
        ingestion_run_id bigint REFERENCES runs(id),
        created_by       text NOT NULL,
        created_at       timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now(),
        started_at       timestamptz,
        finished_at      timestamptz,
        error            jsonb,
        last_sequence    integer NOT NULL DEFAULT 0,
        UNIQUE (request_id, version)
      )`);
    // Listing is newest first with optional filters: each filter has an index ending in id.
    for (const col of [
      'workflow',
      'state',
      'qa_state',
      'archive_state',
      'subject',
      'correlation_id',
      'request_id',
    ]) {
      await q.query(`CREATE INDEX runs_${col}_id ON runs (${col}, id DESC)`);
    }
    await q.query(`
      CREATE TABLE run_files (
        run_id      bigint NOT NULL REFERENCES runs(id),
        name        text NOT NULL,
        size        bigint NOT NULL,
        sha256      text NOT NULL,
        uploaded_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (run_id, name)
      )`);
    await q.query(`
      CREATE TABLE job_groups (
        run_id      bigint NOT NULL REFERENCES runs(id),
        name        text NOT NULL,
        position    integer NOT NULL,
        needs       text[] NOT NULL,
        instances   integer NOT NULL,
        completed   integer NOT NULL DEFAULT 0,
        released    boolean NOT NULL DEFAULT false,
        PRIMARY KEY (run_id, name)
      )`);
    await q.query(`
      CREATE TABLE jobs (
        run_id        bigint NOT NULL REFERENCES runs(id),
        name          text NOT NULL,
        idx           integer NOT NULL,
        position      integer NOT NULL,
        item          jsonb,
        state         text NOT NULL DEFAULT 'idle',
        attempts      integer NOT NULL DEFAULT 0,
        exit_code     integer,
        status_reason text,
        host          text,
        pid           integer,
        dispatched_at timestamptz,
        started_at    timestamptz,
        finished_at   timestamptz,
        PRIMARY KEY (run_id, name, idx)
      )`);
    await q.query(`CREATE INDEX jobs_run_order ON jobs (run_id, position, idx)`);
    // The reconciler and the cancel path look for live jobs only.
    await q.query(
      `CREATE INDEX jobs_live ON jobs (run_id) WHERE state IN ('idle', 'running') AND dispatched_at IS NOT NULL`,
    );
    await q.query(`
      CREATE TABLE events (
        id           bigserial PRIMARY KEY,
        run_id       bigint NOT NULL REFERENCES runs(id),
        sequence     integer NOT NULL,
        type         text NOT NULL,
        body         jsonb NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz,
        UNIQUE (run_id, sequence)
      )`);
    await q.query(`CREATE INDEX events_unpublished ON events (id) WHERE published_at IS NULL`);
    await q.query(`
      CREATE TABLE idempotency_keys (
        principal    text NOT NULL,
        key          text NOT NULL,
        request_hash text NOT NULL,
        run_id       bigint NOT NULL REFERENCES runs(id),
        created_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (principal, key)
      )`);
    await q.query(`
      CREATE TABLE api_tokens (
        id          bigserial PRIMARY KEY,
        name        text NOT NULL,
        role        text NOT NULL,
        token_hash  text NOT NULL UNIQUE,
        created_at  timestamptz NOT NULL DEFAULT now(),
        revoked_at  timestamptz
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of [
      'api_tokens',
      'idempotency_keys',
      'events',
      'jobs',
      'job_groups',
      'run_files',
      'runs',
      'requests',
      'workflow_definitions',
    ]) {
      await q.query(`DROP TABLE IF EXISTS ${t}`);
    }
  }
}
