import type {
  RequestBodyObject,
  SchemaObject,
} from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';

/**
 * The request bodies of the DA operations, which their routes read field by
 * field (JSON, or multipart with file parts) rather than through a DTO.
 */

const analyst: SchemaObject = { type: 'string', minLength: 1, maxLength: 200 };
const comments: SchemaObject = { type: 'string', maxLength: 10_000 };
const qaFlag: SchemaObject = { type: 'string', enum: ['pass', 'fail', 'null'] };
const file: SchemaObject = { type: 'string', format: 'binary' };

/** Multipart or JSON: a form's fields are text, so a JSON-typed field comes as its JSON text. */
const multipartOrJson = (multipart: SchemaObject, json: SchemaObject): RequestBodyObject => ({
  required: false,
  content: {
    'application/json': { schema: json },
    'multipart/form-data': { schema: multipart },
  },
});

export const RERUN_BODY = multipartOrJson(
  {
    type: 'object',
    description:
      'File parts named by their file names (e.g. PPR.xml, flagtemplate.txt, flux.csv, flagtargetstemplate.txt) replace those files; the others are carried over.',
    properties: {
      parameters: { type: 'string', description: 'A JSON object merged over the old parameters' },
      submit: { type: 'string', enum: ['true', 'false'], default: 'true' },
      fromJob: { type: 'string', description: 'Re-run from this job, reusing its ancestors' },
    },
    additionalProperties: file,
  },
  {
    type: 'object',
    additionalProperties: false,
    properties: {
      parameters: {
        type: 'object',
        additionalProperties: true,
        description: 'Merged over the old parameters',
      },
      submit: { type: 'boolean', default: true },
      fromJob: { type: 'string', description: 'Re-run from this job, reusing its ancestors' },
    },
  },
);

export const QA_BODY: RequestBodyObject = {
  required: true,
  content: {
    'application/json': {
      schema: {
        type: 'object',
        additionalProperties: false,
        required: ['status', 'analyst'],
        properties: {
          status: qaFlag,
          analyst,
          comments,
          score: { type: 'number', nullable: true },
          standard: { type: 'string', maxLength: 200 },
        },
      },
    },
  },
};

export const REJECT_BODY: RequestBodyObject = {
  required: true,
  content: {
    'application/json': {
      schema: {
        type: 'object',
        additionalProperties: false,
        required: ['analyst'],
        properties: { analyst, comments },
      },
    },
  },
};

const ingestFields = { qa: qaFlag, analyst, comments };
export const INGEST_BODY: RequestBodyObject = {
  ...multipartOrJson(
    {
      type: 'object',
      required: ['analyst'],
      properties: {
        ...ingestFields,
        'qa_report.txt': file,
        'flagtemplate.txt': file,
        'flagtargetstemplate.txt': file,
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['analyst'],
      properties: ingestFields,
    },
  ),
  required: true,
};
