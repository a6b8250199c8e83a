import { invalid } from '@wfs/domain';
import { Database } from '@wfs/persistence';
import { AuditAction, AuditEntry, AuditRecord } from './audit-entry';

export interface AuditFilter {
  runId?: number;
  actor?: string;
  action?: AuditAction;
  since?: Date;
}

interface AuditRow {
  id: string;
  at: Date;
  actor_token: string | null;
  actor_role: string | null;
  action: AuditAction;
  target_run_id: string | null;
  target_workflow: string | null;
  target_job: string | null;
  target_index: number | null;
  outcome_status: number;
  outcome_code: string | null;
  details: Record<string, unknown>;
  remote_ip: string | null;
  remote_user_agent: string | null;
  request_method: string;
  request_path: string;
}

const encodeCursor = (id: number): string => Buffer.from(`a${id}`).toString('base64url');

function decodeCursor(cursor: string): number {
  const m = /^a([1-9][0-9]{0,15})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!m)
    throw invalid('INVALID_CURSOR', 'The cursor is not one this service gave out.', {
      fields: { cursor: 'is not valid' },
    });
  return Number(m[1]);
}

function view(r: AuditRow): AuditRecord {
  const target: AuditRecord['target'] = {};
  if (r.target_run_id !== null) target.runId = Number(r.target_run_id);
  if (r.target_workflow !== null) target.workflow = r.target_workflow;
  if (r.target_job !== null) target.job = r.target_job;
  if (r.target_index !== null) target.index = r.target_index;
  return {
    id: Number(r.id),
    at: r.at.toISOString(),
    actor: r.actor_token === null ? null : { token: r.actor_token, role: r.actor_role ?? '' },
    action: r.action,
    target,
    outcome:
      r.outcome_code === null
        ? { status: r.outcome_status }
        : { status: r.outcome_status, code: r.outcome_code },
    details: r.details,
    remote: { ip: r.remote_ip, userAgent: r.remote_user_agent },
    request: { method: r.request_method, path: r.request_path },
  };
}

/**
 * The append-only audit table (CONTRACT 5.6): rows are added and read, never
 * changed (the database's trigger refuses UPDATE, DELETE and TRUNCATE).
 */
export class AuditLog {
  constructor(private readonly db: Database) {}

  async append(e: AuditEntry): Promise<void> {
    await this.db.query(
      `INSERT INTO audit (actor_token, actor_role, action, target_run_id, target_workflow, target_job,
         target_index, outcome_status, outcome_code, details, remote_ip, remote_user_agent,
         request_method, request_path)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
      [
        e.actor?.token ?? null,
        e.actor?.role ?? null,
        e.action,
        e.target.runId ?? null,
        e.target.workflow ?? null,
        e.target.job ?? null,
        e.target.index ?? null,
        e.outcome.status,
        e.outcome.code ?? null,
        JSON.stringify(e.details),
        e.remote.ip,
        e.remote.userAgent,
        e.request.method,
        e.request.path,
      ],
    );
  }

  /** Newest first; `cursor` continues after the last row of the previous page. */
  async list(
    filter: AuditFilter,
    limit: number,
    cursor?: string,
  ): Promise<{ items: AuditRecord[]; nextCursor: string | null }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (filter.runId !== undefined) add('target_run_id = ?', filter.runId);
    if (filter.actor !== undefined) add('actor_token = ?', filter.actor);
    if (filter.action !== undefined) add('action = ?', filter.action);
    if (filter.since !== undefined) add('at >= ?', filter.since);
    if (cursor) add('id < ?', decodeCursor(cursor));
    params.push(limit + 1);
    const rows = await this.db.query<AuditRow>(
      `SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY id DESC LIMIT $${params.length}`,
      params,
    );
    const page = rows.slice(0, limit).map(view);
    const last = page[page.length - 1];
    return { items: page, nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null };
  }
}
