import * as path from 'node:path';
import type { Archive } from '@wfs/archive';
import { classifyProducts, conflict, EventActor, transitionDisk } from '@wfs/domain';
import { Database } from '@wfs/persistence';
import { changeRun, lockRun, RunQueries, RunRow } from '@wfs/runs';
import {
  containedIn,
  digestFile,
  entryKind,
  listFiles,
  removeInside,
  Roots,
  runDirs,
} from '@wfs/storage';
import { WorkflowCatalog } from '@wfs/workflows';
import { directoryGone, notArchived, runStates } from './operation-errors';

const FINISHED: ReadonlySet<string> = new Set(['complete', 'failed', 'cancelled']);

/** Roles whose archived copy ingestion may have changed from the run's file. */
const DA_CHANGED_ROLES: ReadonlySet<string> = new Set(['weblog', 'flags', 'qa_report']);

/**
 * Deletes a run's directory once, and only once, its products are safely
 * archived: verified file by file by checksum against the archive, not
 * assumed from a flag. Otherwise the analysts' exact NOT_ARCHIVED message.
 * The other finished versions of a sealed request (superseded: their
 * products will never be archived) may be cleaned up as they are.
 */
export class CleanupRun {
  constructor(
    private readonly db: Database,
    private readonly archive: Archive,
    private readonly roots: Roots,
    private readonly catalog: WorkflowCatalog,
    private readonly queries: RunQueries,
  ) {}

  async execute(
    runId: number,
    dryRun: boolean,
    actor: EventActor | null = null,
  ): Promise<{ deleted: string[]; dryRun: boolean }> {
    const run = await this.queries.row(runId);
    const dir = run.processing_dir;
    if (
      !dir ||
      run.disk_state === 'removed' ||
      run.disk_state === 'expired' ||
      entryKind(dir) === null
    )
      throw directoryGone(run);
    if (run.archive_state !== 'ingested') {
      if (await this.supersededVersion(run)) return this.remove(run, dir, dryRun, actor);
      throw notArchived(run);
    }
    const def = await this.catalog.getByDigest(run.workflow_digest);
    const products = runDirs(dir).products;
    const classified = classifyProducts(await listFiles(products), def.products);
    const files = await Promise.all(
      classified.map(async ({ path: rel }) => {
        // Read without following links: a file gone or replaced by one is not "in the archive".
        const digest = await digestFile(path.join(products, ...rel.split('/'))).catch(() => null);
        return { path: rel, sha256: digest?.sha256 ?? '', size: digest?.size ?? -1 };
      }),
    );
    // Each product file must be in the archive under its path with its checksum; files that
    // ingestion changes on purpose (the weblog gets the QA notes, the DA's flag files replace
    // the pipeline's) are matched by path, and their archived bytes re-checked all the same.
    const archived = (await this.archive.productsOfRun(runId)).flatMap((p) => p.files);
    const matches = files.map((f) =>
      archived.find(
        (a) => a.path === f.path && (a.sha256 === f.sha256 || DA_CHANGED_ROLES.has(a.role)),
      ),
    );
    if (files.length === 0 || matches.some((m) => !m)) throw notArchived(run);
    const held = matches.map((m) => ({ sha256: m!.sha256, size: m!.size }));
    if (!(await this.archive.holds(runId, held))) throw notArchived(run);
    return this.remove(run, dir, dryRun, actor);
  }

  /**
   * A finished version of a sealed request that was not itself ingested (v1
   * after v2 was archived): no product of it will ever be archived, and no
   * QA change, re-run or ingestion can touch it, so its directory may go.
   */
  private async supersededVersion(run: RunRow): Promise<boolean> {
    if (!FINISHED.has(run.state) || run.archive_state === 'ingesting') return false;
    const [request] = await this.db.query<{ sealed: boolean }>(
      'SELECT sealed FROM requests WHERE id = $1',
      [run.request_id],
    );
    return request?.sealed === true;
  }

  private async remove(
    run: RunRow,
    dir: string,
    dryRun: boolean,
    actor: EventActor | null,
  ): Promise<{ deleted: string[]; dryRun: boolean }> {
    const runId = Number(run.id);
    const managed = [this.roots.processing, this.roots.qa];
    const real = containedIn(managed, dir);
    if (!real) {
      throw conflict(
        'OUTSIDE_MANAGED_AREAS',
        `Run ${runId}'s directory ${dir} is not in the processing or QA area; wfs does not delete it.`,
        runStates(run),
      );
    }
    if (dryRun) return { deleted: [real], dryRun };
    await removeInside(managed, dir);
    await this.db.transaction(async (tx) => {
      const locked = await lockRun(tx, runId);
      await changeRun(
        tx,
        locked,
        { disk_state: transitionDisk(runId, locked.disk_state, 'cleanup') },
        [{ type: 'cleaned', actor }],
      );
    });
    return { deleted: [real], dryRun };
  }
}
