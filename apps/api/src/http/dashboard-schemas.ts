import { JOB_STATES } from '@wfs/domain';

/**
 * The answers of the dashboard's read endpoints (dashboard-data.controller.ts)
 * as OpenAPI 3.0 component schemas: every listed property always present,
 * no other. Plain objects, so the OpenAPI document can take them as they are;
 * test/dashboard-dag.test.ts checks the API's answers against them.
 */
type Schema = Record<string, unknown>;

const str: Schema = { type: 'string' };
const int: Schema = { type: 'integer' };
const id: Schema = { type: 'integer', format: 'int64', minimum: 1 };
const time: Schema = { type: 'string', format: 'date-time' };
const nullable = (s: Schema): Schema => ({ ...s, nullable: true });
const obj = (properties: Record<string, Schema>): Schema => ({
  type: 'object',
  required: Object.keys(properties),
  properties,
  additionalProperties: false,
});
const counts: Schema = {
  type: 'object',
  properties: Object.fromEntries(JOB_STATES.map((s) => [s, int])),
  additionalProperties: false,
  description: 'Instances by job state (states with none left out)',
};

export const DASHBOARD_SCHEMAS = {
  RunGraph: obj({
    runId: id,
    state: str,
    nodes: {
      type: 'array',
      items: obj({
        name: str,
        stage: nullable(str),
        needs: { type: 'array', items: str },
        scatter: { type: 'boolean' },
        gate: { type: 'boolean' },
        approvers: nullable({ type: 'array', items: str }),
        prompt: nullable(str),
        instances: int,
        planned: { type: 'boolean' },
        counts,
        startedAt: nullable(time),
        finishedAt: nullable(time),
      }),
    },
  }),
  RunTimeline: obj({
    runId: id,
    groups: {
      type: 'array',
      items: obj({
        name: str,
        instances: int,
        sampled: { type: 'boolean' },
        startedAt: nullable(time),
        finishedAt: nullable(time),
        bars: {
          type: 'array',
          items: obj({
            index: int,
            state: { type: 'string', enum: [...JOB_STATES] },
            attempts: int,
            host: nullable(str),
            startedAt: nullable(time),
            finishedAt: nullable(time),
          }),
        },
      }),
    },
  }),
  QaQueue: obj({
    total: int,
    items: {
      type: 'array',
      items: obj({
        id,
        workflow: str,
        subject: nullable(str),
        version: int,
        finishedAt: nullable(time),
        ageSeconds: int,
      }),
    },
  }),
  RunsPerHour: obj({
    hours: {
      type: 'array',
      minItems: 24,
      maxItems: 24,
      items: obj({ hour: time, finished: int, complete: int, failed: int, cancelled: int }),
    },
  }),
} satisfies Record<string, Schema>;
