import { Controller, Get, Inject, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { AUDIT_ACTIONS, AuditAction, AuditFilter, AuditLog } from '@wfs/audit';
import { RequireRole } from '@wfs/auth';
import { invalid } from '@wfs/domain';
import { ApiOp, CURSOR, LIMIT } from './api-op';
import { boundedInt, PositiveInt } from './validation';

const KNOWN = new Set(['runId', 'actor', 'action', 'since', 'limit', 'cursor']);
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/**
 * The audit log (CONTRACT 5.6), newest first; every bad parameter is named in one 400.
 * Nothing here or anywhere changes it.
 */
@ApiTags('audit')
@Controller('api/v1/audit')
export class AuditController {
  constructor(@Inject(AuditLog) private readonly audit: AuditLog) {}

  @ApiOp({
    summary: 'Read the audit log, newest first',
    description:
      'Every changing call and every 401/403, as recorded; nothing changes it. Every bad parameter is named in one 400.',
    query: {
      runId: {
        description: 'Rows whose target is this run',
        schema: { type: 'integer', format: 'int64', minimum: 1 },
      },
      actor: {
        description: "The token's name, exactly",
        schema: { type: 'string', minLength: 1, maxLength: 200 },
      },
      action: { description: 'The action', schema: { type: 'string', enum: [...AUDIT_ACTIONS] } },
      since: {
        description: 'Rows at or after this time (ISO 8601)',
        schema: { type: 'string', format: 'date-time' },
      },
      limit: LIMIT(500, 50),
      cursor: CURSOR,
    },
    responses: { 200: 'AuditPage' },
  })
  @Get()
  @RequireRole('ops')
  list(@Query() query: Record<string, unknown>) {
    const fields: Record<string, string> = {};
    for (const k of Object.keys(query)) {
      if (!KNOWN.has(k)) fields[k] = 'is not a filter';
      else if (typeof query[k] !== 'string') fields[k] = 'must be given once';
    }
    const q = query as Record<string, string | undefined>;
    const filter: AuditFilter = {};
    if (q.runId !== undefined && !fields.runId) {
      try {
        filter.runId = new PositiveInt('runId').transform(q.runId);
      } catch {
        fields.runId = 'must be a positive integer';
      }
    }
    if (q.actor !== undefined && !fields.actor) {
      if (q.actor.length < 1 || q.actor.length > 200) fields.actor = 'must be 1-200 characters';
      else filter.actor = q.actor;
    }
    if (q.action !== undefined && !fields.action) {
      if (!(AUDIT_ACTIONS as readonly string[]).includes(q.action))
        fields.action = `must be one of ${AUDIT_ACTIONS.join(', ')}`;
      else filter.action = q.action as AuditAction;
    }
    if (q.since !== undefined && !fields.since) {
      const at = new Date(q.since);
      if (!ISO_TIME.test(q.since) || Number.isNaN(at.getTime()))
        fields.since = 'must be an ISO 8601 time (2026-12-01T15:00:00Z)';
      else filter.since = at;
    }
    let limit = 50;
    if (q.limit !== undefined && !fields.limit) {
      try {
        limit = boundedInt('limit', 1, 500, 50).transform(q.limit, { type: 'query' });
      } catch {
        fields.limit = 'must be an integer from 1 to 500';
      }
    }
    if (q.cursor !== undefined && !fields.cursor && q.cursor.length > 100)
      fields.cursor = 'is not valid';
    if (Object.keys(fields).length > 0)
      throw invalid('INVALID_REQUEST', 'The audit query has invalid parameters.', { fields });
    return this.audit.list(filter, limit, q.cursor || undefined);
  }
}
