import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { AuditRecorder } from '@wfs/audit';
import { ErrorKind, WfsError } from '@wfs/domain';
import { isConnectionLoss } from '@wfs/persistence';
import { reqIdOf } from './request-log';

const STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unsupported_media: 415,
  unavailable: 503,
};

export interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> };
}

/** The one place errors become HTTP: the contract's envelope, never a stack trace. */
export function toErrorResponse(e: unknown): { status: number; body: ErrorBody } {
  if (e instanceof WfsError) {
    return {
      status: STATUS[e.kind],
      body: { error: { code: e.code, message: e.message, details: e.details } },
    };
  }
  if (e instanceof HttpException) {
    const status = e.getStatus();
    const code =
      status === 404
        ? 'NOT_FOUND'
        : status === 413
          ? 'PAYLOAD_TOO_LARGE'
          : status === 415
            ? 'UNSUPPORTED_MEDIA_TYPE'
            : status < 500
              ? 'BAD_REQUEST'
              : 'INTERNAL';
    return {
      status,
      body: {
        error: { code, message: status === 404 ? 'No such route.' : e.message, details: {} },
      },
    };
  }
  // body-parser and other express middleware errors carry a status and a type
  const err = e as { status?: number; type?: string; message?: string };
  if (typeof err?.status === 'number' && err.status >= 400 && err.status < 500) {
    const code =
      err.type === 'entity.parse.failed'
        ? 'MALFORMED_JSON'
        : err.type === 'entity.too.large'
          ? 'BODY_TOO_LARGE'
          : err.type === 'charset.unsupported' || err.type === 'encoding.unsupported'
            ? 'UNSUPPORTED_ENCODING'
            : err.status === 404
              ? 'NOT_FOUND'
              : err.status === 413
                ? 'PAYLOAD_TOO_LARGE'
                : err.status === 415
                  ? 'UNSUPPORTED_MEDIA_TYPE'
                  : 'BAD_REQUEST';
    const message =
      code === 'MALFORMED_JSON'
        ? 'The request body is not valid JSON.'
        : code === 'BODY_TOO_LARGE'
          ? 'The request body is too large.'
          : code === 'NOT_FOUND'
            ? 'Not found.'
            : 'The request could not be read.';
    return { status: err.status, body: { error: { code, message, details: {} } } };
  }
  // Postgres unreachable or the connection lost mid-call: worth trying again shortly, not our bug.
  if (isConnectionLoss(e)) {
    return {
      status: 503,
      body: {
        error: {
          code: 'DATABASE_UNAVAILABLE',
          message: 'The database is not reachable right now; try again shortly.',
          details: {},
        },
      },
    };
  }
  return {
    status: 500,
    body: {
      error: {
        code: 'INTERNAL',
        message: 'Something went wrong on our side; it has been logged.',
        details: {},
      },
    },
  };
}

@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly log = new Logger('http');

  /** `audit` writes the row of a refused change and of every 401/403 (CONTRACT 5.6). */
  constructor(private readonly audit: AuditRecorder | null = null) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const reqId = reqIdOf(host.switchToHttp().getRequest());
    const { status, body } = toErrorResponse(exception);
    if (status === 503)
      this.log.warn({
        msg: `${body.error.code}: ${exception instanceof Error ? exception.message : String(exception)}`,
        reqId,
      });
    else if (status >= 500)
      this.log.error({
        msg: exception instanceof Error ? exception.message : String(exception),
        stack: exception instanceof Error ? exception.stack : undefined,
        reqId,
      });
    const req = host.switchToHttp().getRequest<Request>();
    const written = this.audit?.refused(req, status, body.error.code);
    const answer = () => {
      if (res.headersSent) res.end();
      else res.status(status).json(body);
    };
    // The row goes in before the answer (a caller reading the log next finds it), unless the
    // database is what failed or is slow: the answer does not wait on it for long.
    if (!written || status === 503) return answer();
    void Promise.race([written, new Promise((r) => setTimeout(r, AUDIT_WAIT_MS).unref())])
      .then(answer)
      .catch((e: unknown) => {
        this.log.error(`could not answer a refused call: ${String(e)}`);
        res.end();
      });
  }
}

const AUDIT_WAIT_MS = 2000;
