import 'reflect-metadata';
import { INestApplication, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import { json, NextFunction, Request, Response } from 'express';
import { AuditRecorder } from '@wfs/audit';
import { WfsConfig } from '@wfs/config';
import { WfsError } from '@wfs/domain';
import { createLogger, NestPinoLogger } from '@wfs/logging';
import { ApiModule } from './api.module';
import { HttpDrain } from './http/drain';
import { dropRest } from './http/drop-rest';
import { ErrorFilter, toErrorResponse } from './http/error.filter';
import { validationPipe } from './http/validation';
import { RequestLog } from './http/request-log';
import { buildOpenApiDocument } from './openapi';

export const JSON_BODY_LIMIT = '1mb';
const JSON_BODY_LIMIT_BYTES = 1024 * 1024;

const BODY_METHODS = ['POST', 'PUT', 'PATCH'];

/** A raw file upload: its body is the file's bytes, never parsed here (the route streams it and checks the type). */
const isUpload = (req: Request): boolean =>
  req.method === 'PUT' && /^\/api\/v1\/runs\/[^/]+\/files\//.test(req.path);

/** DA operations that take files as multipart parts (read by their route, with the upload size limit). */
const MULTIPART_ROUTES = /^\/api\/v1\/runs\/[^/]+\/(rerun|ingest)$/;
const isMultipart = (req: Request): boolean =>
  req.method === 'POST' &&
  MULTIPART_ROUTES.test(req.path) &&
  (req.headers['content-type'] ?? '').toLowerCase().startsWith('multipart/form-data');

/** Calls that carry a body must say it is JSON, except raw file uploads and the multipart DA operations. */
function requireJson(req: Request, _res: Response, next: NextFunction): void {
  const hasBody =
    Number(req.headers['content-length'] ?? 0) > 0 ||
    req.headers['transfer-encoding'] !== undefined;
  if (!hasBody || isUpload(req) || isMultipart(req) || !BODY_METHODS.includes(req.method))
    return next();
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === 'application/json') return next();
  next(
    new WfsError(
      'unsupported_media',
      'UNSUPPORTED_MEDIA_TYPE',
      'Send the body as application/json.',
      { contentType: type || null },
    ),
  );
}

/**
 * body-parser answers a body over its limit only once it has read the whole
 * of it (so a client sending without end never hears back): this answers the
 * 413 as soon as the limit is passed, and drops the rest for a while.
 */
function answerTooLargeAtOnce(req: Request, res: Response): void {
  let received = 0;
  const count = (chunk: Buffer) => {
    received += chunk.length;
    if (received <= JSON_BODY_LIMIT_BYTES) return;
    req.off('data', count);
    if (res.headersSent) return;
    res.status(413).json(
      toErrorResponse(
        new WfsError('too_large', 'BODY_TOO_LARGE', 'The request body is too large.', {
          limit: JSON_BODY_LIMIT_BYTES,
        }),
      ).body,
    );
    dropRest(req);
  };
  req.on('data', count);
  req.once('end', () => req.off('data', count));
}

export async function createApi(config: WfsConfig): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(config), {
    bodyParser: false,
    logger: new NestPinoLogger(
      createLogger({ process: 'api', level: config.logLevel, format: config.logFormat }),
    ),
    // A start-up error (bad definition, schema behind) is thrown to main, which names it and exits.
    abortOnError: false,
  });
  app.disable('x-powered-by');
  // No response is ever to be sniffed into another type (a downloaded file as HTML, say).
  app.use((_req: Request, res: Response, next: NextFunction) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    next();
  });
  // First: every request gets its reqId, its log line and its duration, whatever answers it.
  app.use(app.get(RequestLog).middleware);
  app.use(app.get(HttpDrain).middleware);
  app.use(requireJson);
  const parseJson = json({ limit: JSON_BODY_LIMIT, strict: true });
  // Only calls that take a body parse one (a GET /health with stray bytes is still a health check), and an
  // upload labelled application/json is a 415 from its route, not a JSON parse error (or a buffered 1 MB).
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (!BODY_METHODS.includes(req.method) || isUpload(req) || isMultipart(req)) return next();
    answerTooLargeAtOnce(req, res);
    parseJson(req, res, next);
  });
  // Errors of the middleware above (bad JSON, too large, 415) in the contract's envelope.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) return; // answered already (a body over the limit, see answerTooLargeAtOnce)
    const { status, body } = toErrorResponse(err);
    // The client may still be sending (a body over the limit, or one refused before it was read).
    dropRest(req);
    res.status(status).json(body);
  });
  app.useGlobalFilters(new ErrorFilter(app.get(AuditRecorder)));
  app.useGlobalPipes(validationPipe);
  const { document, problems } = buildOpenApiDocument(app);
  // A route not fully declared still serves; `npm run check` is where it fails.
  for (const p of problems) new Logger('openapi').warn(p);
  SwaggerModule.setup('api/docs', app, document, { jsonDocumentUrl: 'api/docs-json' });
  app.enableShutdownHooks();
  return app;
}
