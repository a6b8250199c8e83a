import { applyDecorators } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiQuery, ApiResponse } from '@nestjs/swagger';
import type {
  RequestBodyObject,
  SchemaObject,
} from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { ref, SchemaName } from './api-schemas';

/**
 * What a route answers besides the error envelope: a schema of
 * api-schemas.ts (JSON), or one of the other media the API sends.
 */
export type Answer = SchemaName | 'text' | 'bytes' | 'events' | 'metrics' | 'none';

export interface Param {
  description: string;
  schema: SchemaObject;
}

export interface ApiOpSpec {
  summary: string;
  description?: string;
  /** The answers that are not errors (and any that is not the envelope, such as /health's 503). */
  responses: Partial<Record<number, Answer | { answer: Answer; description: string }>>;
  /**
   * Errors this route answers in the envelope besides those every route of
   * its kind may give (401/403 with a token, 400 with input, 404 with a path
   * id, 413/415 with a body, 500/503: see openapi.ts).
   */
  errors?: number[];
  path?: Record<string, Param>;
  query?: Record<string, Param>;
  body?: RequestBodyObject;
}

const CONTENT: Record<
  Exclude<Answer, SchemaName | 'none'>,
  Record<string, { schema: SchemaObject }>
> = {
  text: { 'text/plain': { schema: { type: 'string' } } },
  bytes: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
  events: {
    'text/event-stream': {
      schema: {
        type: 'string',
        description:
          'Server-Sent Events: `id:` the sequence, `event:` the type, `data:` the Event as JSON; heartbeats as comments',
      },
    },
  },
  metrics: {
    'text/plain': { schema: { type: 'string', description: 'Prometheus text exposition format' } },
  },
};

const DESCRIPTIONS: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'Done; no body',
  400: 'Invalid input: `details.fields` names each bad field',
  404: 'No such id or name',
  409: 'Not allowed in the current state: `details` give the state',
  413: 'Too large',
  503: 'Not available right now',
};

/** One operation of the OpenAPI document, declared beside its route. */
export function ApiOp(spec: ApiOpSpec): MethodDecorator {
  const decorators: Array<MethodDecorator> = [
    ApiOperation({
      summary: spec.summary,
      ...(spec.description ? { description: spec.description } : {}),
      ...(spec.body ? { requestBody: spec.body } : {}),
    }),
  ];
  for (const [status, given] of Object.entries(spec.responses)) {
    const { answer, description } =
      typeof given === 'string' ? { answer: given, description: undefined } : given!;
    const base = {
      status: Number(status),
      description: description ?? DESCRIPTIONS[Number(status)] ?? '',
    };
    if (answer === 'none') decorators.push(ApiResponse(base));
    else if (answer in CONTENT)
      decorators.push(ApiResponse({ ...base, content: CONTENT[answer as keyof typeof CONTENT] }));
    else decorators.push(ApiResponse({ ...base, schema: ref(answer as SchemaName) }));
  }
  for (const status of spec.errors ?? [])
    decorators.push(
      ApiResponse({ status, description: DESCRIPTIONS[status] ?? 'Error', schema: ref('Error') }),
    );
  for (const [name, p] of Object.entries(spec.path ?? {}))
    decorators.push(ApiParam({ name, required: true, ...p }));
  for (const [name, p] of Object.entries(spec.query ?? {}))
    decorators.push(ApiQuery({ name, required: false, ...p }));
  return applyDecorators(...decorators);
}

/** A JSON request body of this schema. */
export const jsonBody = (schema: SchemaObject, required = true): RequestBodyObject => ({
  required,
  content: { 'application/json': { schema } },
});

export const RUN_ID: Param = {
  description: 'The run id',
  schema: { type: 'integer', format: 'int64', minimum: 1 },
};
export const WORKFLOW_NAME: Param = {
  description: 'The workflow definition name',
  schema: { type: 'string' },
};
export const JOB_NAME: Param = {
  description: "The job's name in the definition",
  schema: { type: 'string' },
};
export const JOB_INDEX: Param = {
  description: 'The scatter index (0 when not scattered)',
  schema: { type: 'integer', minimum: 0, maximum: 10_000_000 },
};
export const LIMIT = (max: number, fallback: number): Param => ({
  description: `Page size (default ${fallback})`,
  schema: { type: 'integer', minimum: 1, maximum: max, default: fallback },
});
export const CURSOR: Param = {
  description: 'The `nextCursor` of the previous page',
  schema: { type: 'string' },
};
