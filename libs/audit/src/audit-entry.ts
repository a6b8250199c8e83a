/** The action names of the audit log (CONTRACT 5.6); `denied` is any 401/403. */
export const AUDIT_ACTIONS = [
  'create',
  'upload',
  'submit',
  'cancel',
  'rerun',
  'qa',
  'ingest',
  'reject',
  'cleanup',
  'resume',
  'gate-approve',
  'gate-reject',
  'hold',
  'release',
  'pause',
  'unpause',
  'limit-set',
  'limit-delete',
  'priority',
  'token-create',
  'token-revoke',
  'denied',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditTarget {
  runId?: number;
  workflow?: string;
  job?: string;
  index?: number;
}

/** One row as written and as `GET /api/v1/audit` shows it. */
export interface AuditEntry {
  /** The token's name (configured tokens are named `<role>-token`), never its secret; null for a 401. */
  actor: { token: string; role: string } | null;
  action: AuditAction;
  target: AuditTarget;
  outcome: { status: number; code?: string };
  /** What was asked: the body's fields (secrets redacted), route values not in the target, query, file parts. */
  details: Record<string, unknown>;
  remote: { ip: string | null; userAgent: string | null };
  request: { method: string; path: string };
}

export interface AuditRecord extends AuditEntry {
  id: number;
  at: string;
}
