import { Client, Json, UsageError } from './client';
import type { Flags, Io } from './commands';

export const AUDIT_USAGE =
  'wfs audit [--run N] [--actor TOKEN] [--action X] [--since TIME] [--limit N]';

const str = (flags: Flags, name: string): string | undefined => {
  const v = flags[name];
  if (Array.isArray(v)) return v[v.length - 1];
  return typeof v === 'string' ? v : undefined;
};

function targetText(t: Json): string {
  const parts: string[] = [];
  if (t.runId !== undefined) parts.push(`run ${t.runId}`);
  if (t.workflow !== undefined) parts.push(`workflow ${t.workflow}`);
  if (t.job !== undefined) parts.push(`job ${t.job}${t.index !== undefined ? `[${t.index}]` : ''}`);
  return parts.join(' ') || '-';
}

/** One row on one line: when, who, what, on what, how it ended, what was asked. */
export function auditLine(r: Json): string {
  const who = r.actor ? `${r.actor.token} (${r.actor.role})` : 'no valid token';
  const outcome = `${r.outcome.status}${r.outcome.code ? ` ${r.outcome.code}` : ''}`;
  const details = JSON.stringify(r.details);
  return `${r.at}  ${who}  ${r.action}  ${targetText(r.target)}  ${outcome}${details && details !== '{}' ? `  ${details.length > 160 ? `${details.slice(0, 157)}...` : details}` : ''}`;
}

/** `wfs audit` (CONTRACT 5.9): the audit log, newest first (ops). */
export async function auditCommand(
  client: Client,
  io: Io,
  args: string[],
  flags: Flags,
): Promise<number> {
  if (args.length > 0)
    throw new UsageError(`audit takes no arguments, got ${args.join(' ')}\nusage: ${AUDIT_USAGE}`);
  const run = str(flags, 'run');
  if (run !== undefined && !/^[1-9][0-9]*$/.test(run))
    throw new UsageError(`--run takes a run id (a positive integer), got ${run}`);
  const limitFlag = str(flags, 'limit');
  if (limitFlag !== undefined && !/^[1-9][0-9]*$/.test(limitFlag))
    throw new UsageError(`--limit takes a positive whole number, got ${limitFlag}`);
  const wanted = Number(limitFlag ?? 50);
  const query = new URLSearchParams();
  if (run) query.set('runId', run);
  for (const [flag, param] of [
    ['actor', 'actor'],
    ['action', 'action'],
    ['since', 'since'],
  ] as const) {
    const v = str(flags, flag);
    if (v !== undefined) query.set(param, v);
  }
  const items: Json[] = [];
  let cursor: string | null = null;
  do {
    const page = new URLSearchParams(query);
    page.set('limit', String(Math.min(500, wanted - items.length)));
    if (cursor) page.set('cursor', cursor);
    const body: Json = await client.request('GET', `/api/v1/audit?${page.toString()}`);
    items.push(...body.items);
    cursor = body.nextCursor;
  } while (cursor && items.length < wanted);
  if (io.json) io.out(JSON.stringify(items));
  else for (const r of items) io.out(auditLine(r));
  return 0;
}
