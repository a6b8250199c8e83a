import { Readable } from 'node:stream';
import { conflict, invalid, isSafeUploadName } from '@wfs/domain';
import { Database } from '@wfs/persistence';
import { plainDir, runDirs, stageUpload } from '@wfs/storage';
import { FileRow, fileView, FileView, lockRun } from './run-model';
import { RunQueries } from './run-queries';

/** The user's upload of one input file into a run that is still `created`. */
export class UploadFile {
  constructor(
    private readonly db: Database,
    private readonly queries: RunQueries,
    private readonly limits: { maxUploadBytes: number },
  ) {}

  /** Streams a file into the run's inputs; only while the run is `created`. */
  async execute(runId: number, name: string, body: Readable): Promise<FileView> {
    if (!isSafeUploadName(name)) {
      throw invalid(
        'INVALID_FILE_NAME',
        'File names are 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit, without "..".',
        {
          fields: { filename: 'is not an allowed file name' },
        },
      );
    }
    const run = await this.queries.row(runId);
    if (run.state !== 'created') {
      throw conflict(
        'RUN_NOT_CREATED',
        `Run ${runId} is ${run.state}: files can only be uploaded while it is created.`,
        { state: run.state },
      );
    }
    const dirs = runDirs(run.processing_dir as string);
    const staged = await stageUpload(
      body,
      plainDir(dirs.inputs, dirs.root),
      this.limits.maxUploadBytes,
    );
    // The bytes go under their name with the run locked and the record written, and come back out
    // if that does not commit: a submit that overtook the upload, or parallel uploads of one name,
    // never leave on disk what the database does not say.
    let installed: Awaited<ReturnType<typeof staged.install>> | null = null;
    try {
      const view = await this.db.transaction(async (tx) => {
        const locked = await lockRun(tx, runId);
        if (locked.state !== 'created') {
          throw conflict('RUN_NOT_CREATED', `Run ${runId} was submitted during the upload.`, {
            state: locked.state,
          });
        }
        const [row] = await tx.query<FileRow>(
          `INSERT INTO run_files (run_id, name, size, sha256) VALUES ($1, $2, $3, $4)
           ON CONFLICT (run_id, name) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, uploaded_at = now()
           RETURNING *`,
          [runId, name, staged.size, staged.sha256],
        );
        installed = await staged.install(name);
        return fileView(row as FileRow);
      });
      await (installed as { keep: () => Promise<void> } | null)?.keep();
      return view;
    } catch (e) {
      await (installed as { undo: () => Promise<void> } | null)?.undo().catch(() => undefined);
      await staged.discard();
      throw e;
    }
  }
}
