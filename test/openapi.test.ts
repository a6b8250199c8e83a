import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { loadConfig } from '@wfs/config';
import { ApiModule } from '../apps/api/src/api.module';
import { buildOpenApiDocument } from '../apps/api/src/openapi';
import { OpenApiCheck } from './support/openapi';

/**
 * The check every HTTP test's answers go through (test/support/stack.ts):
 * here, that it refuses what the document does not declare. The document is
 * built as `npm run openapi` builds it, without any store.
 */
let app: INestApplication;
let document: Record<string, any>;
let problems: string[];
let check: OpenApiCheck;

beforeAll(async () => {
  app = await NestFactory.create(ApiModule.forRoot(loadConfig({})), {
    preview: true,
    logger: false,
    abortOnError: false,
  });
  ({ document, problems } = buildOpenApiDocument(app));
  check = new OpenApiCheck(document);
});

const json = (status: number, body: unknown) => ({
  status,
  contentType: 'application/json; charset=utf-8',
  text: JSON.stringify(body),
  body,
});
const envelope = { error: { code: 'RUN_NOT_FOUND', message: 'No run 9.', details: {} } };
const file = {
  name: 'PPR.xml',
  size: 3,
  sha256: 'a'.repeat(64),
  uploadedAt: '2026-01-01T00:00:00.000Z',
};

test('every route is declared: summary, path parameters, a success answer', () => {
  expect(problems).toEqual([]);
  for (const [path, item] of Object.entries(document.paths as Record<string, any>))
    for (const op of Object.values(item as Record<string, any>)) {
      expect(`${path}: ${op.summary ? 'summary' : 'none'}`).toBe(`${path}: summary`);
      for (const [status, r] of Object.entries(op.responses as Record<string, any>))
        if (Number(status) >= 400 && status !== '503')
          expect(r.content['application/json'].schema).toEqual({
            $ref: '#/components/schemas/Error',
          });
    }
});

test('security only where a token is needed', () => {
  expect(document.paths['/health'].get.security).toEqual([]);
  expect(document.paths['/metrics'].get.security).toEqual([]);
  expect(document.paths['/api/v1/runs/{id}'].get.security).toEqual([{ bearer: [] }]);
  expect(document.paths['/api/v1/runs/{id}'].get.responses['401']).toBeDefined();
  expect(document.paths['/health'].get.responses['401']).toBeUndefined();
});

test('optional query parameters are optional, and the run filters are there', () => {
  const params = document.paths['/api/v1/runs'].get.parameters as Array<any>;
  expect(params.map((p) => p.name).sort()).toEqual(
    [
      'archiveState',
      'correlationId',
      'cursor',
      'limit',
      'qaState',
      'requestId',
      'state',
      'subject',
      'workflow',
    ].sort(),
  );
  expect(params.filter((p) => p.required)).toEqual([]);
  expect(document.paths['/api/v1/runs/{id}/files/{filename}'].put.responses['201']).toBeDefined();
});

test('the bulk ingestion, audit and dashboard reads are declared with their answers', () => {
  const answer = (method: string, path: string, status: number) =>
    document.paths[path][method].responses[String(status)].content['application/json'].schema;
  const bulk = document.paths['/api/v1/ingestions'].post;
  expect(answer('post', '/api/v1/ingestions', 202)).toEqual({
    $ref: '#/components/schemas/BulkIngestion',
  });
  for (const status of [400, 404, 409]) expect(bulk.responses[String(status)]).toBeDefined();
  expect(bulk.requestBody.content['application/json'].schema).toEqual({
    $ref: '#/components/schemas/BulkIngestBody',
  });
  expect(answer('get', '/api/v1/audit', 200)).toEqual({ $ref: '#/components/schemas/AuditPage' });
  expect(
    (document.paths['/api/v1/audit'].get.parameters as Array<any>).map((p) => p.name).sort(),
  ).toEqual(['action', 'actor', 'cursor', 'limit', 'runId', 'since']);
  expect(answer('get', '/api/v1/runs/{id}/graph', 200)).toEqual({
    $ref: '#/components/schemas/RunGraph',
  });
  expect(answer('get', '/api/v1/runs/{id}/timeline', 200)).toEqual({
    $ref: '#/components/schemas/RunTimeline',
  });
  expect(answer('get', '/api/v1/overview/qa-queue', 200)).toEqual({
    $ref: '#/components/schemas/QaQueue',
  });
  expect(answer('get', '/api/v1/overview/hourly', 200)).toEqual({
    $ref: '#/components/schemas/RunsPerHour',
  });
  const schemas = document.components.schemas;
  expect(schemas.Run.required).toContain('sourceRunIds');
  expect(schemas.Event.properties.type.enum).toContain('group-progress');
  expect(schemas.Event.properties.progress.required).toContain('stage');
});

test('an answer as declared passes', () => {
  expect(check.check('PUT', '/api/v1/runs/7/files/PPR.xml', json(201, file))).toBeNull();
  expect(check.check('GET', '/api/v1/runs/9', json(404, envelope))).toBeNull();
  expect(check.check('GET', '/api/v1/nothing-here', json(404, envelope))).toBeNull();
  expect(
    check.check('GET', '/metrics', {
      status: 200,
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      text: 'wfs_runs 1\n',
      body: null,
    }),
  ).toBeNull();
});

test('an answer the document does not declare fails, naming operation, status and the difference', () => {
  expect(check.check('PUT', '/api/v1/runs/7/files/PPR.xml', json(200, file))).toMatch(
    'PUT /api/v1/runs/{id}/files/{filename} answered 200, a status it does not declare',
  );
  expect(
    check.check('PUT', '/api/v1/runs/7/files/PPR.xml', json(201, { ...file, size: '3' })),
  ).toMatch(
    'PUT /api/v1/runs/{id}/files/{filename} 201: the body does not match its schema: /size must be integer',
  );
  expect(
    check.check('PUT', '/api/v1/runs/7/files/PPR.xml', json(201, { ...file, extra: 1 })),
  ).toMatch('must NOT have additional properties: extra');
  const { sha256: _gone, ...partial } = file;
  expect(check.check('PUT', '/api/v1/runs/7/files/PPR.xml', json(201, partial))).toMatch(
    "must have required property 'sha256'",
  );
  expect(
    check.check('GET', '/api/v1/runs/9', json(404, { error: { code: 'X', message: 'm' } })),
  ).toMatch("/error must have required property 'details'");
  expect(check.check('GET', '/api/v1/runs/9', json(404, { message: 'Not Found' }))).toMatch(
    "GET /api/v1/runs/{id} 404: the body does not match its schema: (body) must have required property 'error'",
  );
  expect(check.check('GET', '/api/v1/runs/9/files/PPR.xml', json(200, { bytes: 'no' }))).toMatch(
    'sent application/json, declares application/octet-stream',
  );
  expect(check.check('PATCH', '/api/v1/me', json(200, {}))).toMatch(
    'PATCH /api/v1/me: no such operation in the document',
  );
});

afterAll(async () => {
  await app?.close();
});
