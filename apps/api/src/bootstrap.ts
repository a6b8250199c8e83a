import 'reflect-metadata';
import { INestApplication, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { json, NextFunction, Request, Response } from 'express';
import { WfsConfig } from '@wfs/config';
import { WfsError } from '@wfs/domain';
import { ApiModule } from './api.module';
import { dropRest } from './http/drop-rest';
import { ErrorFilter, toErrorResponse } from './http/error.filter';
import { validationPipe } from './http/validation';

export const JSON_BODY_LIMIT = '1mb';

const BODY_METHODS = ['POST', 'PUT', 'PATCH'];

/** A raw file upload: its body is the file's bytes, never parsed here (the route streams it and checks the type). */
const isUpload = (req: Request): boolean => req.method === 'PUT' && /^\/api\/v1\/runs\/[^/]+\/files\//.test(req.path);

/** Calls that carry a body must say it is JSON, except raw file uploads. */
function requireJson(req: Request, _res: Response, next: NextFunction): void {
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (!hasBody || isUpload(req) || !BODY_METHODS.includes(req.method)) return next();
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === 'application/json') return next();
  next(new WfsError('unsupported_media', 'UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json.', { contentType: type || null }));
}

export const logLevels = (config: WfsConfig): LogLevel[] =>
  config.logLevel === 'debug' ? ['debug', 'log', 'warn', 'error'] : config.logLevel === 'info' ? ['log', 'warn', 'error'] : ['warn', 'error'];

export async function createApi(config: WfsConfig): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(config), {
    bodyParser: false,
    logger: logLevels(config),
  });
  app.disable('x-powered-by');
  app.use(requireJson);
  const parseJson = json({ limit: JSON_BODY_LIMIT, strict: true });
  // Only calls that take a body parse one (a GET /health with stray bytes is still a health check), and an
  // upload labelled application/json is a 415 from its route, not a JSON parse error (or a buffered 1 MB).
  app.use((req: Request, res: Response, next: NextFunction) =>
    BODY_METHODS.includes(req.method) && !isUpload(req) ? parseJson(req, res, next) : next(),
  );
  // Errors of the middleware above (bad JSON, too large, 415) in the contract's envelope.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const { status, body } = toErrorResponse(err);
    // The client may still be sending (a body over the limit, or one refused before it was read).
    dropRest(req);
    res.status(status).json(body);
  });
  app.useGlobalFilters(new ErrorFilter());
  app.useGlobalPipes(validationPipe);
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('wfs')
      .setDescription('Workflow service for radio-astronomy data processing (contract v1)')
      .setVersion('1')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('api/docs', app, document, { jsonDocumentUrl: 'api/docs-json' });
  app.enableShutdownHooks();
  return app;
}
