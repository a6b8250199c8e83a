import { CallHandler, ExecutionContext, Inject, Injectable, NestInterceptor } from '@nestjs/common';
import type { Request, Response } from 'express';
import { from, Observable, switchMap } from 'rxjs';
import { AuditRecorder } from './audit-recorder';
import { auditSpecOf } from './audited.decorator';

/**
 * Writes the row of an accepted call to a route marked @Audited, once the
 * route has answered: the status is then known (Nest sets the route's
 * status before the handler runs; a handler may change it, or send the
 * response itself, as an upload does). The row is written before the
 * response goes out, so a caller reading the log next sees its call there.
 * Refused calls are the error filter's (see AuditRecorder.refused).
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  constructor(@Inject(AuditRecorder) private readonly recorder: AuditRecorder) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const spec = auditSpecOf(context.getHandler());
    if (!spec || context.getType() !== 'http') return next.handle();
    const http = context.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    return next
      .handle()
      .pipe(
        switchMap((result: unknown) =>
          from(this.recorder.accepted(req, res.statusCode, spec, result).then(() => result)),
        ),
      );
  }
}
