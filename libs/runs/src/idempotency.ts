import { conflict } from '@wfs/domain';
import { Tx } from '@wfs/persistence';

/** How long an Idempotency-Key names the run it created. */
const IDEMPOTENCY_WINDOW_HOURS = 24;

/** The run an earlier call with this key created, or null; 409 if the key came with another body. */
export async function earlierRun(
  tx: Tx,
  actor: string,
  key: string,
  requestHash: string,
): Promise<number | null> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`idempotency/${actor}/${key}`]);
  const [row] = await tx.query<{ request_hash: string; run_id: string; fresh: boolean }>(
    `SELECT request_hash, run_id, created_at > now() - interval '${IDEMPOTENCY_WINDOW_HOURS} hours' AS fresh
     FROM idempotency_keys WHERE principal = $1 AND key = $2`,
    [actor, key],
  );
  if (!row) return null;
  if (!row.fresh) {
    await tx.query('DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2', [actor, key]);
    return null;
  }
  if (row.request_hash !== requestHash) {
    throw conflict(
      'IDEMPOTENCY_KEY_REUSED',
      'This Idempotency-Key was used with a different request body.',
      { runId: Number(row.run_id) },
    );
  }
  return Number(row.run_id);
}

/** Records that this key (with this body) created this run. */
export async function rememberKey(
  tx: Tx,
  actor: string,
  key: string,
  requestHash: string,
  runId: number,
): Promise<void> {
  await tx.query(
    'INSERT INTO idempotency_keys (principal, key, request_hash, run_id) VALUES ($1, $2, $3, $4)',
    [actor, key, requestHash, runId],
  );
}

/** JSON with every object's keys in sorted order: one text for one value, however its keys came. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
            a < b ? -1 : a > b ? 1 : 0,
          ),
        )
      : v,
  );
}
