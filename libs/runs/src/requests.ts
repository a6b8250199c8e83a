import { Tx } from '@wfs/persistence';

/**
 * The latest run of the subject's open request, or null when there is none.
 * Takes a transaction-scoped lock on the subject first, so two deliveries of
 * the same trigger cannot both find nothing and both start a run.
 */
export async function latestOpenRun(
  tx: Tx,
  workflow: string,
  subject: string,
): Promise<number | null> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`request/${workflow}/${subject}`]);
  const [row] = await tx.query<{ id: string }>(
    `SELECT r.id FROM requests q JOIN runs r ON r.request_id = q.id
     WHERE q.workflow = $1 AND q.subject = $2 AND NOT q.sealed ORDER BY r.version DESC LIMIT 1`,
    [workflow, subject],
  );
  return row ? Number(row.id) : null;
}

/** The open request for this subject (runs add versions to it), or a new one. */
export async function openRequest(
  tx: Tx,
  workflow: string,
  subject: string | null,
): Promise<number> {
  if (subject !== null) {
    await tx.query(
      `INSERT INTO requests (workflow, subject) VALUES ($1, $2)
       ON CONFLICT (workflow, subject) WHERE subject IS NOT NULL AND NOT sealed DO NOTHING`,
      [workflow, subject],
    );
    const [open] = await tx.query<{ id: string }>(
      'SELECT id FROM requests WHERE workflow = $1 AND subject = $2 AND NOT sealed FOR UPDATE',
      [workflow, subject],
    );
    if (open) return Number(open.id);
  }
  const [created] = await tx.query<{ id: string }>(
    'INSERT INTO requests (workflow, subject) VALUES ($1, $2) RETURNING id',
    [workflow, subject],
  );
  return Number((created as { id: string }).id);
}
