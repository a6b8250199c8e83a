import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { cancelRun, conflict, invalid, isSafeUploadName, notFound } from '@wfs/domain';
import { Database } from '@wfs/persistence';
import { Dispatcher } from '@wfs/dispatch';
import { openRead, plainDir, runDirs, stageUpload } from '@wfs/storage';
import { WorkflowCatalog } from '@wfs/workflows';
import { JobStore } from './job-store';
import { FileRow, fileView, FileView, lockRun } from './run-model';
import { RunQueries } from './run-queries';
import { submitLocked } from './submit-run';

export { CANCEL_CHANNEL } from './job-store';

/** Upload, submit and cancel: the user's commands on one run. */
export class RunCommands {
  constructor(
    private readonly db: Database,
    private readonly catalog: WorkflowCatalog,
    private readonly dispatcher: Dispatcher,
    private readonly queries: RunQueries,
    private readonly limits: { maxUploadBytes: number; maxJobsPerRun: number },
  ) {}

  /** Streams a file into the run's inputs; only while the run is `created`. */
  async upload(runId: number, name: string, body: Readable): Promise<FileView> {
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

  /** A stored input file, opened for download without following links; 404 when it is not there. */
  async openFile(runId: number, name: string): Promise<{ handle: FileHandle; size: number }> {
    const run = await this.queries.row(runId);
    const files = await this.queries.files(runId);
    if (!isSafeUploadName(name) || !files.some((f) => f.name === name) || !run.processing_dir) {
      throw notFound('file', `${runId}/${name}`);
    }
    const handle = await openRead(runDirs(run.processing_dir).inputs, name);
    if (!handle) throw notFound('file', `${runId}/${name}`);
    return { handle, size: (await handle.stat()).size };
  }

  async submit(runId: number): Promise<void> {
    const ready = await this.db.transaction(async (tx) => {
      const run = await lockRun(tx, runId);
      const def = await this.catalog.getByDigest(run.workflow_digest);
      return (await submitLocked(tx, run, def, this.limits.maxJobsPerRun)).ready;
    });
    await this.dispatcher.enqueue(ready);
  }

  /**
   * Cancels a run: jobs not finished are removed, running processes are told
   * to stop (NOTIFY on commit; each worker kills its process groups). The
   * domain's cancel over the run and its running instances, applied by the
   * job store like every other job transition.
   */
  async cancel(runId: number, actor: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const store = await JobStore.load(tx, this.catalog, { keys: [], runningOf: [runId] });
      if (!store.exists(runId)) throw notFound('run', runId);
      store.apply(runId, cancelRun(store.run(runId), store.runningJobs(runId), actor));
      await store.flush(tx);
    });
  }
}
