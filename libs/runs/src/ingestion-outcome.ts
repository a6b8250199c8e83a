import {
  DiskState,
  EventProduct,
  transitionArchive,
  transitionDiskTo,
  WorkflowDefinition,
} from '@wfs/domain';
import { appendEvents } from '@wfs/events';
import type { Tx } from '@wfs/persistence';
import { lockRun, RunRow, snapshotOf, updateRun } from './run-model';

/** Changes a step made to the run an ingestion run ingests (its directory moved back, ...). */
export async function applySourceEffects(
  tx: Tx,
  ingestion: RunRow,
  effects: { processingDir?: string; diskState?: DiskState },
): Promise<void> {
  if (ingestion.source_run_id === null) return;
  const sourceId = Number(ingestion.source_run_id);
  const source = await lockRun(tx, sourceId);
  await updateRun(tx, sourceId, {
    ...(effects.processingDir ? { processing_dir: effects.processingDir } : {}),
    ...(effects.diskState
      ? { disk_state: transitionDiskTo(sourceId, source.disk_state, effects.diskState) }
      : {}),
  });
}

/**
 * When an ingestion run ends, its source run learns the outcome in the same
 * transaction: `ingested` (archiveState ingested, request sealed, the product
 * names in the event) or `ingestion-failed` (archiveState ingest_failed, so the
 * DA may ingest again). The caller holds the ingestion run's lock; the source
 * is locked after it (always in that order).
 */
export async function settleSource(
  tx: Tx,
  ingestion: RunRow,
  definition: WorkflowDefinition,
  outcome: 'ingested' | 'failed',
): Promise<void> {
  if (definition.role !== 'ingestion' || ingestion.source_run_id === null) return;
  const sourceId = Number(ingestion.source_run_id);
  const source = await lockRun(tx, sourceId);
  if (source.ingestion_run_id !== ingestion.id) return; // a later ingestion owns the source now
  if (outcome === 'ingested') {
    const updated = await updateRun(tx, sourceId, {
      archive_state: transitionArchive(sourceId, source.archive_state, 'succeed'),
    });
    await tx.query('UPDATE requests SET sealed = true WHERE id = $1', [source.request_id]);
    const products = (ingestion.products ?? []) as EventProduct[];
    await appendEvents(tx, snapshotOf(updated), [{ type: 'ingested', products }]);
  } else {
    const updated = await updateRun(tx, sourceId, {
      archive_state: transitionArchive(sourceId, source.archive_state, 'fail'),
    });
    await appendEvents(tx, snapshotOf(updated), [{ type: 'ingestion-failed' }]);
  }
}
