import { EventActor, transitionQa } from '@wfs/domain';
import { Database, Tx } from '@wfs/persistence';
import { changeRun, lockRun, RunRow } from '@wfs/runs';
import { requestSealed, runNotComplete, runRejected } from './operation-errors';

export type QaStatus = 'pass' | 'fail' | 'null';

export interface QaDecision {
  status: QaStatus;
  analyst: string;
  comments?: string | null;
  score?: number | null;
  standard?: string | null;
  /** The person (token) who decided, for the `qa-set` events. */
  actor?: EventActor | null;
}

export const DEFAULT_QA_STANDARD = 'SRDP Pilot';

/**
 * Records a QA decision on a locked, complete, not rejected run of an unsealed request:
 * history row, qa_state, `qa-set` event. A pass fails every other version of
 * the request that is awaiting QA or passed (one pass per request), each with
 * its own history row and event.
 */
export async function setQaLocked(tx: Tx, run: RunRow, d: QaDecision): Promise<RunRow> {
  if (run.state !== 'complete') throw runNotComplete(run, 'given a QA flag');
  // A rejected run's subject is Do Not Calibrate in the archive and its directory may be
  // gone: its QA fail stands (a re-run makes a new version to judge).
  const [rejected] = await tx.query(
    `SELECT 1 FROM events WHERE run_id = $1 AND type = 'rejected' LIMIT 1`,
    [run.id],
  );
  if (rejected) throw runRejected(run);
  const [request] = await tx.query<{ sealed: boolean }>(
    'SELECT sealed FROM requests WHERE id = $1 FOR UPDATE',
    [run.request_id],
  );
  if (request?.sealed) throw requestSealed(run);
  const score = d.score ?? (d.status === 'pass' ? 1 : d.status === 'fail' ? 0 : null);
  const standard = d.standard || DEFAULT_QA_STANDARD;
  await tx.query(
    `INSERT INTO qa_decisions (run_id, status, analyst, standard, score, comments, reason) VALUES ($1, $2, $3, $4, $5, $6, 'set by analyst')`,
    [run.id, d.status, d.analyst, standard, score, d.comments ?? null],
  );
  const updated = await changeRun(
    tx,
    run,
    { qa_state: transitionQa(Number(run.id), run.qa_state, d.status) },
    [{ type: 'qa-set', actor: d.actor ?? null }],
  );
  if (d.status === 'pass') {
    const others = await tx.query<{ id: string }>(
      `SELECT id FROM runs WHERE request_id = $1 AND id <> $2 AND qa_state IN ('awaiting', 'pass') ORDER BY id`,
      [run.request_id, run.id],
    );
    for (const o of others) {
      const other = await lockRun(tx, Number(o.id));
      await tx.query(
        `INSERT INTO qa_decisions (run_id, status, analyst, standard, score, comments, reason)
         VALUES ($1, 'fail', $2, $3, 0, $4, 'another version passed')`,
        [o.id, d.analyst, standard, `version of run ${run.id} passed QA`],
      );
      await changeRun(
        tx,
        other,
        { qa_state: transitionQa(Number(o.id), other.qa_state, 'supersede') },
        [{ type: 'qa-set', actor: d.actor ?? null }],
      );
    }
  }
  return updated;
}

export class SetQa {
  constructor(private readonly db: Database) {}

  async execute(runId: number, d: QaDecision): Promise<void> {
    await this.db.transaction(async (tx) => setQaLocked(tx, await lockRun(tx, runId), d));
  }

  async history(runId: number) {
    const rows = await this.db.query<{
      status: string;
      analyst: string;
      standard: string;
      score: number | null;
      comments: string | null;
      reason: string;
      decided_at: Date;
    }>(
      'SELECT status, analyst, standard, score, comments, reason, decided_at FROM qa_decisions WHERE run_id = $1 ORDER BY id',
      [runId],
    );
    return rows.map((r) => ({
      status: r.status,
      analyst: r.analyst,
      standard: r.standard,
      score: r.score,
      comments: r.comments,
      reason: r.reason,
      decidedAt: r.decided_at.toISOString(),
    }));
  }
}
