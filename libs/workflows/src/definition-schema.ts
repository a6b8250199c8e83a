/** JSON Schema of a workflow definition file (WORKFLOWS.md). Defaults fill optional job fields. */
/** A workflow, job or template name as a definition's author writes it. */
export const NAME = '^[a-z][a-z0-9_]{0,63}$';
/** A worker label (WFS_WORKER_LABELS) as a job's requirements name it. */
export const LABEL = '^[a-z0-9][a-z0-9_.-]{0,63}$';
/** A named concurrency limit (`concurrencyLimits`, PUT /api/v1/limits/{name}). */
export const LIMIT = '^[a-z][a-z0-9_.-]{0,63}$';

/** The fields of a job that runs an executable (a template holds some of them, minus `name`). */
export const JOB_PROPERTIES = {
  name: { type: 'string', pattern: NAME },
  stage: { type: 'string', default: '' },
  executable: { type: 'string', pattern: '^(builtin:)?[a-z][a-z0-9_]*$' },
  arguments: { type: 'array', items: { type: 'string' }, default: [] },
  needs: { type: 'array', items: { type: 'string' }, default: [] },
  scatter: {
    type: ['object', 'null'],
    default: null,
    minProperties: 1,
    propertyNames: { pattern: '^[a-z][a-zA-Z0-9_]*$' },
    additionalProperties: {
      anyOf: [{ type: 'string' }, { type: 'array', items: { type: ['string', 'number'] } }],
    },
  },
  // Defaults depend on the executable (a builtin step reserves nothing): load-definitions.ts.
  requestCpus: { type: 'integer', minimum: 0, maximum: 100000 },
  requestMemory: { type: 'string', pattern: '^[0-9]{1,12}[KMGT]?$' },
  requestGpus: { type: 'integer', minimum: 0, maximum: 1024, default: 0 },
  requirements: {
    type: 'object',
    additionalProperties: false,
    default: {},
    properties: {
      labels: { type: 'array', items: { type: 'string', pattern: LABEL }, default: [] },
    },
  },
  concurrencyLimits: {
    type: 'array',
    items: { type: 'string', pattern: LIMIT },
    uniqueItems: true,
    default: [],
  },
  timeout: { type: 'integer', minimum: 1, default: 3600 },
  retries: { type: 'integer', minimum: 0, maximum: 20, default: 0 },
  retryBackoff: { type: 'number', minimum: 0, default: 5 },
  retryUnlessExit: { type: ['integer', 'null'], default: null },
  success: { enum: ['exit_code', 'casa'], default: 'exit_code' },
  outputs: { type: 'array', items: { type: 'string' }, default: [] },
  env: { type: 'object', additionalProperties: { type: 'string' }, default: {} },
  when: { type: ['string', 'null'], minLength: 1, maxLength: 2000, default: null },
  prompt: { type: ['string', 'null'], minLength: 1, maxLength: 2000, default: null },
  repeat: {
    type: ['object', 'null'],
    additionalProperties: false,
    required: ['max', 'until'],
    properties: {
      max: { type: 'integer', minimum: 1, maximum: 1000 },
      until: { type: 'string', minLength: 1, maxLength: 2000 },
    },
    default: null,
  },
  onTimeout: { enum: ['approve', 'reject', null], default: null },
  /** `summary`: a scattered job's instances publish group-progress, not started/completed each (CONTRACT 5.8). */
  events: { enum: ['all', 'summary'], default: 'all' },
  notify: {
    type: ['array', 'null'],
    items: { type: 'string', minLength: 1, maxLength: 64 },
    uniqueItems: true,
    default: null,
  },
  approvers: {
    type: ['array', 'null'],
    items: { type: 'string' },
    minItems: 1,
    uniqueItems: true,
    default: null,
  },
} as const;

const JOB = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'executable'],
  properties: JOB_PROPERTIES,
} as const;

/** A job that expands into a sub-workflow's jobs (WORKFLOWS v1.1 "Composition"). */
const SUB_WORKFLOW_JOB = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'workflow'],
  properties: {
    name: { type: 'string', pattern: NAME },
    workflow: { type: 'string', pattern: NAME },
    with: { type: 'object', default: {} },
    needs: { type: 'array', items: { type: 'string' }, default: [] },
  },
} as const;

export const DEFINITION_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'version', 'description', 'subjectKind', 'jobs'],
  properties: {
    name: { type: 'string', pattern: NAME },
    version: { type: 'integer', minimum: 1 },
    description: { type: 'string', minLength: 1 },
    subjectKind: { enum: ['execution_block', 'mous', 'vlass_job', 'none'] },
    telescope: { type: ['string', 'null'], default: null },
    requiresQa: { type: 'boolean', default: false },
    maxConcurrentJobs: { type: ['integer', 'null'], minimum: 1, default: null },
    priority: { type: 'integer', minimum: 0, maximum: 100, default: 50 },
    role: { enum: ['processing', 'ingestion'], default: 'processing' },
    /** The ingestion workflow a DA's ingest of this workflow's runs starts (null: not ingestible). */
    ingestWith: { type: ['string', 'null'], pattern: NAME, default: null },
    /** `pass`: an ingest records QA pass whatever was asked (ALMA imaging); `as_given`: the DA's flag. */
    ingestQa: { enum: ['as_given', 'pass'], default: 'as_given' },
    parameters: {
      type: 'object',
      default: { type: 'object', additionalProperties: false, properties: {} },
    },
    inputs: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' },
          required: { type: 'boolean', default: false },
          description: { type: 'string', default: '' },
        },
      },
    },
    notify: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: {
        started: { type: 'array', items: { type: 'string' } },
        complete: { type: 'array', items: { type: 'string' } },
        failed: { type: 'array', items: { type: 'string' } },
      },
    },
    products: {
      type: 'object',
      default: {},
      propertyNames: {
        enum: ['primary', 'ancillary', 'calibration', 'weblog', 'flags', 'qa_report'],
      },
      additionalProperties: { type: 'array', items: { type: 'string' } },
    },
    jobs: {
      type: 'array',
      minItems: 1,
      // A job that runs a sub-workflow (`workflow:`) has fields of its own (composition.ts).
      items: { if: { type: 'object', required: ['workflow'] }, then: SUB_WORKFLOW_JOB, else: JOB },
    },
  },
} as const;
