import { Logger } from '@nestjs/common';
import type { Request } from 'express';
import type { Principal } from '@wfs/auth';
import { AuditEntry, AuditTarget } from './audit-entry';
import { AuditLog } from './audit-log';
import { AuditSpec, auditSpecOf } from './audited.decorator';

/** What the auth guard leaves on a request: who called (once known) and which route was matched. */
type AuditedRequest = Request & {
  principal?: Principal;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  routeHandler?: Function;
  audited?: boolean;
  files?: unknown;
};

/** Keys whose values are never stored, however a body names them. */
const SECRET_KEY = /^(token|secret|password|passphrase|authorization|api[-_]?key)$/i;
const MAX_DETAILS = 32 * 1024;
const MAX_DEPTH = 8;

/** Lone UTF-16 surrogates, which Postgres's jsonb and text refuse. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** A string Postgres stores: no NUL, no lone surrogate (each becomes U+FFFD or goes). */
const storable = (s: string): string =>
  s.split('\u0000').join('').replace(LONE_SURROGATE, '\uFFFD');

/** A copy fit for the log: secrets redacted, what Postgres refuses replaced, depth bounded. */
function clean(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return storable(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[nested too deep]';
  if (Array.isArray(value)) return value.map((v) => clean(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[storable(k)] = SECRET_KEY.test(k) ? '[redacted]' : clean(v, depth + 1);
  }
  return out;
}

function bounded(details: Record<string, unknown>): Record<string, unknown> {
  const size = Buffer.byteLength(JSON.stringify(details));
  if (size <= MAX_DETAILS) return details;
  return { truncated: true, bytes: size, fields: Object.keys(details).slice(0, 100) };
}

const positiveInt = (v: string | undefined): number | undefined =>
  v !== undefined && /^[1-9][0-9]{0,15}$/.test(v) ? Number(v) : undefined;
const nonNegativeInt = (v: string | undefined): number | undefined =>
  v !== undefined && /^[0-9]{1,9}$/.test(v) ? Number(v) : undefined;

/**
 * Turns an HTTP call into its audit row and writes it. The one door for the
 * audit log: the AuditInterceptor calls `accepted` for routes marked
 * @Audited, the error filter `refused` for every error (rows for marked
 * routes and for every 401/403). A row that cannot be written does not undo
 * or fail the call: it is logged at error level, whole, so it can be replayed.
 */
export class AuditRecorder {
  private readonly log = new Logger('audit');

  constructor(private readonly store: AuditLog) {}

  /** Never rejects: the call it records is answered whatever becomes of its row. */
  async accepted(req: Request, status: number, spec: AuditSpec, result: unknown): Promise<void> {
    const r = req as AuditedRequest;
    if (r.audited) return;
    r.audited = true;
    await this.write(() => this.entry(r, spec, status, undefined, spec.fromResult?.(result) ?? {}));
  }

  /** Never rejects. A row for a route marked @Audited, and for any 401/403 (`denied`). */
  async refused(req: Request, status: number, code: string): Promise<void> {
    const r = req as AuditedRequest;
    if (r.audited) return;
    const spec = auditSpecOf(r.routeHandler);
    const denied = status === 401 || status === 403;
    if (!spec && !denied) return;
    r.audited = true;
    await this.write(() => {
      const entry = this.entry(r, spec, status, code, {});
      if (!denied) return entry;
      return {
        ...entry,
        action: 'denied',
        details: { attempted: spec?.action ?? null, ...entry.details },
      };
    });
  }

  private entry(
    r: AuditedRequest,
    spec: AuditSpec | undefined,
    status: number,
    code: string | undefined,
    extra: { target?: AuditTarget; details?: Record<string, unknown> },
  ): AuditEntry {
    const params = { ...(r.params ?? {}) } as Record<string, string>;
    const target: AuditTarget = {};
    for (const [field, param] of Object.entries(spec?.target ?? {})) {
      const raw = params[param];
      delete params[param];
      if (field === 'runId') {
        const n = positiveInt(raw);
        if (n !== undefined) target.runId = n;
        else if (raw !== undefined) params[param] = raw;
      } else if (field === 'index') {
        const n = nonNegativeInt(raw);
        if (n !== undefined) target.index = n;
        else if (raw !== undefined) params[param] = raw;
      } else if (raw !== undefined) {
        target[field as 'workflow' | 'job'] = storable(raw).slice(0, 500);
      }
    }
    Object.assign(target, extra.target ?? {});
    const body =
      r.body !== null && typeof r.body === 'object' && !Buffer.isBuffer(r.body) ? r.body : {};
    const query = r.query && Object.keys(r.query).length > 0 ? { query: r.query } : {};
    const files = Array.isArray(r.files)
      ? {
          files: (r.files as Array<{ fieldname: string; size: number }>).map((f) => ({
            name: f.fieldname,
            bytes: f.size,
          })),
        }
      : {};
    const details = clean({
      ...(Array.isArray(body) ? { body } : body),
      ...params,
      ...query,
      ...files,
      ...(extra.details ?? {}),
    }) as Record<string, unknown>;
    const ua = r.headers['user-agent'];
    return {
      actor: r.principal ? { token: r.principal.name, role: r.principal.role } : null,
      action: spec?.action ?? 'denied',
      target,
      outcome: code === undefined ? { status } : { status, code },
      details: bounded(details),
      remote: {
        ip: r.ip ?? r.socket?.remoteAddress ?? null,
        userAgent: typeof ua === 'string' ? ua.slice(0, 500) : null,
      },
      request: {
        method: r.method,
        path: storable((r.originalUrl ?? r.url).split('?')[0] ?? '').slice(0, 2000),
      },
    };
  }

  private async write(build: () => AuditEntry): Promise<void> {
    let entry: AuditEntry | null = null;
    try {
      entry = build();
      await this.store.append(entry);
    } catch (e) {
      // The change itself is done (or refused) either way; the row is in this log line.
      this.log.error(
        `AUDIT ROW NOT WRITTEN (${e instanceof Error ? e.message : String(e)}): ${JSON.stringify(entry)}`,
      );
    }
  }
}
