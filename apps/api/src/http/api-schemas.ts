import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { AUDIT_ACTIONS } from '@wfs/audit';
import { ROLES } from '@wfs/config';
import {
  ARCHIVE_STATES,
  DISK_STATES,
  EVENT_TYPES,
  JOB_STATES,
  PRODUCT_ROLES,
  QA_STATES,
  RUN_STATES,
} from '@wfs/domain';
import { DASHBOARD_SCHEMAS } from './dashboard-schemas';

/**
 * The shapes the API answers with, as OpenAPI 3.0 component schemas
 * (CONTRACT 2, 5.x). Controllers name them in their `@ApiOp` declarations;
 * bootstrap adds them to the document. The enums come from the domain's own
 * lists, so a new state cannot be left out here. Objects list every field
 * they always carry as required; the response check of the tests also
 * refuses a field that is not listed (see test/support/openapi.ts).
 */

// A reference stands where a schema may (Nest's SchemaObject type does not say so).
const schemaRef = (name: string): SchemaObject =>
  ({ $ref: `#/components/schemas/${name}` }) as SchemaObject;

const str: SchemaObject = { type: 'string' };
const nullableStr: SchemaObject = { type: 'string', nullable: true };
const int: SchemaObject = { type: 'integer' };
const id: SchemaObject = { type: 'integer', format: 'int64', minimum: 1 };
const nullableId: SchemaObject = { ...id, nullable: true };
const time: SchemaObject = { type: 'string', format: 'date-time' };
const nullableTime: SchemaObject = { ...time, nullable: true };
const anyObject: SchemaObject = { type: 'object', additionalProperties: true };
const strings: SchemaObject = { type: 'array', items: str };
const enumOf = (values: readonly string[], nullable = false): SchemaObject => ({
  type: 'string',
  enum: [...values],
  ...(nullable ? { nullable: true } : {}),
});

/** An object whose every listed property is always present, but those named `optional`. */
const obj = (
  properties: Record<string, SchemaObject>,
  { optional = [], ...extra }: Partial<SchemaObject> & { optional?: string[] } = {},
): SchemaObject => ({
  type: 'object',
  required: Object.keys(properties).filter((k) => !optional.includes(k)),
  properties,
  ...extra,
});
const itemsOf = (name: string, paged = false): SchemaObject =>
  obj({
    items: { type: 'array', items: schemaRef(name) },
    ...(paged
      ? { nextCursor: { ...nullableStr, description: 'Give it as `cursor` for the next page' } }
      : {}),
  });

const runError = obj(
  { code: str, message: str },
  { nullable: true, description: 'Why the run failed (a job failure names the job and reason)' },
);
const actor = obj({ name: str, role: str }, { nullable: true });
const requests = obj({
  cpus: { type: 'number' },
  memory: { ...str, example: '16G' },
  gpus: int,
  labels: strings,
});
const paused = obj({ by: str, reason: str, at: time }, { nullable: true });

const SCHEMAS = {
  Error: obj(
    {
      error: obj({
        code: { ...str, pattern: '^[A-Z][A-Z0-9_]*$', example: 'RUN_NOT_FOUND' },
        message: { ...str, description: 'A human sentence' },
        details: {
          ...anyObject,
          description:
            'Facts about the error: `fields` names each bad field (400), `state` the current state (409)',
        },
      }),
    },
    { description: 'Every error response (CONTRACT 2): never a stack trace' },
  ),
  Workflow: obj({
    name: str,
    version: int,
    description: str,
    subjectKind: enumOf(['execution_block', 'mous', 'vlass_job', 'none']),
    telescope: nullableStr,
    parameters: { ...anyObject, description: "The parameters' JSON Schema" },
    inputs: {
      type: 'array',
      items: obj({ name: str, required: { type: 'boolean' }, description: str }),
    },
    requiresQa: { type: 'boolean' },
    priority: { type: 'integer', minimum: 0, maximum: 100 },
    maxConcurrentJobs: { ...int, nullable: true },
    paused,
    jobs: {
      type: 'array',
      items: obj({
        name: str,
        stage: str,
        needs: strings,
        scatter: { type: 'boolean' },
        requests,
        concurrencyLimits: strings,
      }),
    },
  }),
  WorkflowList: itemsOf('Workflow'),
  Job: obj(
    {
      name: str,
      index: { ...int, minimum: 0, description: 'The scatter index (0 when not scattered)' },
      state: enumOf(JOB_STATES),
      attempts: int,
      exitCode: { ...int, nullable: true },
      statusReason: nullableStr,
      host: nullableStr,
      startedAt: nullableTime,
      finishedAt: nullableTime,
      waitingFor: {
        ...nullableStr,
        description:
          'Why an idle job has not started: dependencies, resources, priority, workflow_paused, retry_backoff or limit:<name>',
        pattern: '^(dependencies|resources|priority|workflow_paused|retry_backoff|limit:.+)$',
      },
      requests: { ...requests, nullable: true },
      executor: obj(
        {
          kind: enumOf(['local', 'slurm', 'htcondor']),
          host: str,
          clusterJobId: nullableStr,
        },
        { nullable: true },
      ),
      result: { ...anyObject, nullable: true },
      round: { ...int, minimum: 1 },
      stage: str,
    },
    // `stage` is left out when the run's definition is no longer loaded.
    { optional: ['stage'] },
  ),
  JobPage: itemsOf('Job', true),
  File: obj({
    name: { ...str, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' },
    size: { ...int, minimum: 0 },
    sha256: { ...str, pattern: '^[0-9a-f]{64}$' },
    uploadedAt: time,
  }),
  FileList: itemsOf('File'),
  Run: obj({
    id,
    requestId: id,
    version: { ...int, minimum: 1 },
    workflow: str,
    workflowVersion: int,
    subject: nullableStr,
    correlationId: nullableStr,
    parameters: anyObject,
    state: enumOf(RUN_STATES),
    qaState: enumOf(QA_STATES),
    archiveState: enumOf(ARCHIVE_STATES),
    diskState: enumOf(DISK_STATES),
    processingDir: nullableStr,
    resultsDir: nullableStr,
    sourceRunId: nullableId,
    sourceRunIds: {
      type: 'array',
      items: id,
      description:
        "An ingestion run's sources, in the order given: one (its sourceRunId), or up to 1,000 (POST /api/v1/ingestions); empty for another run",
    },
    ingestionRunId: nullableId,
    createdBy: str,
    createdAt: time,
    updatedAt: time,
    startedAt: nullableTime,
    finishedAt: nullableTime,
    error: runError,
    priority: { type: 'integer', minimum: 0, maximum: 100 },
    resumedCount: { ...int, minimum: 0 },
    waiting: {
      type: 'array',
      description: "Open gates waiting for a person's decision",
      items: obj({ job: str, prompt: str, since: nullableTime }),
    },
    jobs: { type: 'array', items: schemaRef('Job') },
    jobsTotal: {
      ...int,
      description: 'Job instances in all; `jobs` holds at most 200 (see /runs/{id}/jobs)',
    },
    jobsPrunedAt: {
      ...nullableTime,
      description:
        'When the sweep deleted its per-instance rows (WFS_JOB_ROWS_RETENTION_DAYS): `jobs` is then empty while `jobsTotal` still counts them; null while they are kept',
    },
    files: { type: 'array', items: schemaRef('File') },
  }),
  RunPage: itemsOf('Run', true),
  Request: obj({
    id,
    workflow: str,
    subject: nullableStr,
    sealed: { type: 'boolean' },
    runs: { type: 'array', items: schemaRef('Run') },
  }),
  Ingestion: obj({ run: schemaRef('Run'), ingestionRun: schemaRef('Run') }),
  BulkIngestion: obj(
    {
      runs: {
        type: 'array',
        items: schemaRef('Run'),
        description: 'The runs ingested, in the order given',
      },
      ingestionRun: schemaRef('Run'),
    },
    { description: 'One ingestion run for all the runs; each gets its own `ingested` event' },
  ),
  Cleanup: obj({ deleted: strings, dryRun: { type: 'boolean' } }),
  QaDecisionList: obj({
    items: {
      type: 'array',
      items: obj({
        status: enumOf(['pass', 'fail', 'null']),
        analyst: str,
        standard: nullableStr,
        score: { type: 'number', nullable: true },
        comments: nullableStr,
        reason: str,
        decidedAt: time,
      }),
    },
  }),
  Event: obj(
    {
      messageId: { ...str, format: 'uuid' },
      specVersion: { type: 'integer', enum: [1] },
      type: enumOf(EVENT_TYPES),
      sequence: { ...int, minimum: 1 },
      occurredAt: time,
      runId: id,
      requestId: id,
      version: int,
      workflow: str,
      subject: nullableStr,
      correlationId: nullableStr,
      state: enumOf(RUN_STATES),
      qaState: enumOf(QA_STATES),
      archiveState: enumOf(ARCHIVE_STATES),
      diskState: enumOf(DISK_STATES),
      processingDir: nullableStr,
      resultsDir: nullableStr,
      job: obj(
        {
          name: str,
          index: int,
          state: enumOf(JOB_STATES),
          attempts: int,
          exitCode: { ...int, nullable: true },
          statusReason: nullableStr,
          stage: str,
          executor: obj({ kind: str, host: str, clusterJobId: nullableStr }, { nullable: true }),
        },
        { nullable: true, optional: ['stage', 'executor'] },
      ),
      sourceRunId: nullableId,
      ingestionRunId: nullableId,
      products: {
        type: 'array',
        nullable: true,
        items: obj(
          {
            name: str,
            kind: str,
            sourceRunId: {
              ...id,
              description:
                "The run it was made from: a bulk ingestion's `ingested` events each carry their own run's",
            },
            files: { type: 'array', items: obj({ path: str, role: str }) },
          },
          { optional: ['sourceRunId'] },
        ),
      },
      error: runError,
      actor,
      gate: obj({ job: str, prompt: str, comment: nullableStr }, { nullable: true }),
      progress: obj(
        {
          job: str,
          stage: str,
          ...Object.fromEntries(
            ['total', 'idle', 'running', 'completed', 'failed', 'held'].map((k) => [
              k,
              { ...int, minimum: 0 },
            ]),
          ),
        },
        {
          nullable: true,
          description: "On group-progress: the counts of the group's instances",
        },
      ),
    },
    { description: 'The AMQP message body (CONTRACT 3), in sequence order' },
  ),
  EventList: itemsOf('Event'),
  Product: obj({
    name: str,
    kind: str,
    subject: str,
    qaFlag: enumOf(['pass', 'fail', 'null'], true),
    sourceRunId: id,
    ingestionRunId: id,
    ingestedAt: time,
    files: {
      type: 'array',
      items: obj({
        path: str,
        size: { ...int, minimum: 0 },
        sha256: str,
        role: enumOf(PRODUCT_ROLES),
      }),
    },
  }),
  Subject: obj({
    subject: str,
    calibrationStatus: enumOf(['Calibrating', 'Calibrated', 'Do Not Calibrate', 'Unknown']),
    products: { type: 'array', items: schemaRef('Product') },
  }),
  Worker: obj({
    id: str,
    host: str,
    executor: str,
    cpus: { type: 'number' },
    memory: str,
    gpus: int,
    labels: strings,
    slots: int,
    cpusInUse: { type: 'number' },
    memoryInUse: str,
    gpusInUse: int,
    jobs: {
      type: 'array',
      items: obj({ runId: id, job: str, index: int, state: enumOf(['placed', 'running']) }),
    },
    startedAt: time,
    lastSeenAt: time,
    alive: { type: 'boolean' },
  }),
  WorkerList: itemsOf('Worker'),
  Limit: obj({ name: str, max: { ...int, minimum: 0 }, inUse: { ...int, minimum: 0 } }),
  LimitList: itemsOf('Limit'),
  Token: obj({
    id,
    name: str,
    role: enumOf(ROLES),
    createdAt: time,
    revokedAt: nullableTime,
  }),
  TokenList: itemsOf('Token'),
  NewToken: obj({
    id,
    name: str,
    role: enumOf(ROLES),
    token: { ...str, description: 'The clear text: shown in this response only' },
  }),
  Me: obj({
    name: str,
    role: enumOf(ROLES),
    actions: { ...strings, description: 'What the role may do besides reading' },
  }),
  Overview: obj({
    runs: {
      type: 'object',
      additionalProperties: int,
      description: 'Runs by state (states with none left out)',
    },
    awaitingQa: int,
    eventsUnpublished: int,
    workers: {
      type: 'array',
      items: obj({ id: str, host: str, pid: int, lastSeen: time, alive: { type: 'boolean' } }),
    },
    queue: { type: 'object', additionalProperties: int, description: 'Job instances by status' },
  }),
  AuditEntry: obj(
    {
      id,
      at: time,
      actor: obj(
        {
          token: { ...str, description: "The token's name, never its secret" },
          role: str,
        },
        { nullable: true, description: 'null for a call without a valid token (401)' },
      ),
      action: enumOf(AUDIT_ACTIONS),
      target: obj(
        { runId: id, workflow: str, job: str, index: { ...int, minimum: 0 } },
        {
          optional: ['runId', 'workflow', 'job', 'index'],
          description: 'What the call acted on (only what applies)',
        },
      ),
      outcome: obj(
        {
          status: { ...int, minimum: 100, maximum: 599 },
          code: { ...str, description: "The error's code, when it failed" },
        },
        { optional: ['code'] },
      ),
      details: {
        ...anyObject,
        description:
          "What was asked: the body's fields (secrets redacted), route values not in the target, query, file parts",
      },
      remote: obj({ ip: nullableStr, userAgent: nullableStr }),
      request: obj({ method: str, path: str }),
    },
    { description: 'One row of the audit log (CONTRACT 5.6)' },
  ),
  AuditPage: itemsOf('AuditEntry', true),
  ...(DASHBOARD_SCHEMAS as Record<keyof typeof DASHBOARD_SCHEMAS, SchemaObject>),
  Health: obj({
    status: enumOf(['ok', 'degraded']),
    checks: obj(
      Object.fromEntries(
        ['postgres', 'redis', 'broker', 'roots'].map((k) => [k, enumOf(['up', 'down'])]),
      ),
    ),
  }),
} satisfies Record<string, SchemaObject>;

export type SchemaName = keyof typeof SCHEMAS;

/** A reference to one of the schemas above, for `@ApiOp` and request bodies. */
export const ref = (name: SchemaName): SchemaObject => schemaRef(name);

export const API_SCHEMAS: Record<SchemaName, SchemaObject> = SCHEMAS;
