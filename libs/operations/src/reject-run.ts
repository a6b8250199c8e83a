import type { Archive } from '@wfs/archive';
import { EventActor, transitionDisk } from '@wfs/domain';
import { Database } from '@wfs/persistence';
import { changeRun, lockRun, RunQueries } from '@wfs/runs';
import { entryKind, isInside, realDestination, removeInside, Roots } from '@wfs/storage';
import { ingestionUnderway, requestSealed, runNotComplete } from './operation-errors';
import { setQaLocked } from './set-qa';

/**
 * The old qaFail: QA fail, the subject marked `Do Not Calibrate` in the
 * archive, the run's directory removed from the QA area. The archive and the
 * disk come first (both idempotent), the record last, so a fault part-way
 * leaves a run that can simply be rejected again.
 */
export class RejectRun {
  constructor(
    private readonly db: Database,
    private readonly archive: Archive,
    private readonly roots: Roots,
    private readonly queries: RunQueries,
  ) {}

  async execute(
    runId: number,
    analyst: string,
    comments: string | null,
    actor: EventActor | null = null,
  ): Promise<void> {
    const run = await this.queries.row(runId);
    if (run.state !== 'complete') throw runNotComplete(run, 'rejected');
    if (run.archive_state === 'ingesting' || run.archive_state === 'ingested')
      throw ingestionUnderway(run);
    // Refused before the archive and the disk are touched: a sealed request's subject is
    // Calibrated (another version is archived), and a superseded version's way out is cleanup.
    const [request] = await this.db.query<{ sealed: boolean }>(
      'SELECT sealed FROM requests WHERE id = $1',
      [run.request_id],
    );
    if (request?.sealed) throw requestSealed(run);
    if (run.subject) await this.archive.setCalibrationStatus(run.subject, 'Do Not Calibrate');
    const dir = run.processing_dir;
    const inQa = dir !== null && isInside(realDestination(this.roots.qa), realDestination(dir));
    if (inQa && entryKind(dir) !== null) await removeInside([this.roots.qa], dir);
    await this.db.transaction(async (tx) => {
      const locked = await lockRun(tx, runId);
      if (locked.archive_state === 'ingesting' || locked.archive_state === 'ingested')
        throw ingestionUnderway(locked);
      const failed = await setQaLocked(tx, locked, {
        status: 'fail',
        analyst,
        comments: comments ?? 'rejected',
        actor,
      });
      await changeRun(
        tx,
        failed,
        inQa ? { disk_state: transitionDisk(runId, locked.disk_state, 'reject') } : {},
        [{ type: 'rejected', actor }],
      );
    });
  }
}
