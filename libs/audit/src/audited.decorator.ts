import { SetMetadata } from '@nestjs/common';
import { AuditAction, AuditTarget } from './audit-entry';

/** Which route values name the target: `{ runId: 'id', job: 'name', index: 'index' }`. */
export type TargetParams = Partial<Record<keyof AuditTarget, string>>;

/** What a response adds to its row: the run a create made (target), the run a rerun made (details). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the route's own result, of its own type
export type FromResult = (result: any) => {
  target?: AuditTarget;
  details?: Record<string, unknown>;
};

export interface AuditSpec {
  action: AuditAction;
  target: TargetParams;
  fromResult?: FromResult;
}

const AUDIT_KEY = 'wfs:audit';

/**
 * Marks a route that changes something: each call to it, accepted or
 * refused, is one audit row (written by the AuditInterceptor and the error
 * filter, never by the route). `@Audited('cancel', { runId: 'id' })`.
 */
export const Audited = (action: AuditAction, target: TargetParams = {}, fromResult?: FromResult) =>
  SetMetadata(AUDIT_KEY, { action, target, fromResult } satisfies AuditSpec);

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export const auditSpecOf = (handler: Function | undefined): AuditSpec | undefined =>
  handler ? (Reflect.getMetadata(AUDIT_KEY, handler) as AuditSpec | undefined) : undefined;
