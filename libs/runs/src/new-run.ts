import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { conflict, WorkflowDefinition } from '@wfs/domain';
import { Database, Tx } from '@wfs/persistence';
import { entryKind, openRead, removeInside, Roots, storeUpload } from '@wfs/storage';
import { changeRun, RunRow, updateRun } from './run-model';

export interface NewRun {
  def: WorkflowDefinition;
  /** The request this run is a version of; null: a new request of its own. */
  requestId: number | null;
  subject: string | null;
  parameters: Record<string, unknown>;
  correlationId: string | null;
  resultsDir: string | null;
  actor: string;
  /** The runs an ingestion run ingests (empty for any other run). */
  sourceRunIds: number[];
  /** 0-100; absent: the definition's `priority` (default 50). */
  priority?: number | null;
  /** Input files: a path to copy from (another run's input, never through a link), or the bytes. */
  files: Array<{ name: string; from: string | Buffer }>;
}

/**
 * Brings a run into being: its row, its directory, its input files. Shared by
 * the use cases that make runs (create, rerun, ingest), each inside its own
 * transaction.
 */
export class NewRuns {
  constructor(
    private readonly db: Database,
    private readonly roots: Roots,
  ) {}

  /**
   * Inserts a run as the next version of a request, makes its directory, stores
   * its input files, writes its `created` event. For DA operations that build a
   * run inside their own transaction (rerun, ingest).
   */
  async insertRun(tx: Tx, spec: NewRun, made: string[]): Promise<RunRow> {
    const run = await this.insertRow(tx, spec, made);
    return changeRun(tx, run, {}, [{ type: 'created' }]);
  }

  /**
   * Inserts the run row (and, with no request given, the request it is the
   * first version of) in one statement, makes its directory and stores its
   * input files; no event yet.
   */
  async insertRow(tx: Tx, spec: NewRun, made: string[]): Promise<RunRow> {
    const { def } = spec;
    // The directory is named for the run's id, which the statement draws: it appends the id.
    const namedPrefix = this.roots.runRootPrefix(def.name);
    const [inserted] = await tx.query<RunRow>(
      `WITH q AS (
         INSERT INTO requests (workflow, subject) SELECT $2, $5 WHERE $1::bigint IS NULL RETURNING id
       ), n AS (
         SELECT nextval(pg_get_serial_sequence('runs', 'id')) AS id,
                coalesce($1::bigint, (SELECT id FROM q)) AS request_id
       )
       INSERT INTO runs (id, request_id, version, workflow, workflow_version, workflow_digest, subject,
                         correlation_id, parameters, state, qa_state, disk_state, results_dir, created_by,
                         source_run_id, processing_dir, priority, source_run_ids)
       SELECT n.id, n.request_id,
              (SELECT coalesce(max(version), 0) + 1 FROM runs WHERE request_id = n.request_id),
              $2, $3, $4, $5, $6, $7, 'created', $8, 'processing', $9, $10, $11,
              coalesce($9, $12 || n.id), $13, $14::bigint[]
       FROM n
       RETURNING *`,
      [
        spec.requestId,
        def.name,
        def.version,
        def.digest,
        spec.subject,
        spec.correlationId,
        spec.parameters,
        def.requiresQa ? 'pending' : 'not_required',
        spec.resultsDir,
        spec.actor,
        spec.sourceRunIds.length === 1 ? spec.sourceRunIds[0] : null,
        namedPrefix,
        spec.priority ?? def.priority ?? 50,
        spec.sourceRunIds.length > 0 ? spec.sourceRunIds : null,
      ],
    );
    let run = inserted as RunRow;
    const runId = Number(run.id);
    let root = this.roots.runRoot(runId, def.name, spec.resultsDir);
    // A caller's resultsDir may have taken a default name first: never share a directory.
    if (!spec.resultsDir && entryKind(root) !== null) {
      root = `${root}_${randomBytes(3).toString('hex')}`;
      run = await updateRun(tx, runId, { processing_dir: root });
    }
    const { dirs, made: top } = this.roots.create(root);
    if (top !== null) made.push(top);
    for (const file of spec.files) {
      const source = typeof file.from === 'string' ? null : Readable.from([file.from]);
      const copied = typeof file.from === 'string' ? await openFileIn(file.from) : null;
      try {
        const stored = await storeUpload(
          copied ? copied.createReadStream({ autoClose: false }) : (source as Readable),
          dirs.inputs,
          file.name,
          Number.MAX_SAFE_INTEGER,
        );
        await tx.query(
          'INSERT INTO run_files (run_id, name, size, sha256) VALUES ($1, $2, $3, $4)',
          [runId, file.name, stored.size, stored.sha256],
        );
      } finally {
        await copied?.close();
      }
    }
    return run;
  }

  /**
   * A transaction that also undoes on disk what it made: the directories of
   * runs it created are removed if it rolls back, so a refusal leaves nothing.
   */
  async transaction<T>(fn: (tx: Tx, made: string[]) => Promise<T>): Promise<T> {
    const made: string[] = [];
    try {
      return await this.db.transaction((tx) => fn(tx, made));
    } catch (e) {
      for (const dir of made) await removeInside(this.roots.runAreas, dir).catch(() => undefined);
      throw e;
    }
  }
}

/** Another run's stored input, opened without following links (a link planted there is refused). */
async function openFileIn(file: string) {
  const handle = await openRead(path.dirname(file), path.basename(file));
  if (!handle) throw conflict('INPUTS_GONE', `${file} is gone.`, { path: file });
  return handle;
}
