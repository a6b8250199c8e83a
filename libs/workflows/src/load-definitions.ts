import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv, { ErrorObject } from 'ajv';
import { parse } from 'yaml';
import { dagProblems, JobDefinition, templateProblems, WorkflowDefinition } from '@wfs/domain';
import { DEFINITION_SCHEMA } from './definition-schema';

/** A definition file that cannot be used: names the file and the field. */
export class DefinitionError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    problem: string,
  ) {
    super(`Workflow definition ${file}: ${field}: ${problem}`);
    this.name = 'DefinitionError';
  }
}

const ajv = new Ajv({ allErrors: false, useDefaults: true, strict: false });
const validateShape = ajv.compile(DEFINITION_SCHEMA);

function fieldOf(error: ErrorObject): string {
  const where = error.instancePath.replace(/^\//, '').replace(/\//g, '.') || '(top level)';
  if (error.keyword === 'additionalProperties') {
    return `${where === '(top level)' ? '' : where + '.'}${String(error.params.additionalProperty)}`;
  }
  if (error.keyword === 'required') {
    return `${where === '(top level)' ? '' : where + '.'}${String(error.params.missingProperty)}`;
  }
  return where;
}

function messageOf(error: ErrorObject): string {
  if (error.keyword === 'additionalProperties') return 'is not a known field';
  if (error.keyword === 'required') return 'is required';
  return error.message ?? 'is invalid';
}

/** Parses and validates one definition file's text; throws DefinitionError. */
export function parseDefinition(file: string, text: string): WorkflowDefinition {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new DefinitionError(
      file,
      '(yaml)',
      (e as Error).message.split('\n')[0] ?? 'unreadable YAML',
    );
  }
  if (!validateShape(doc)) {
    const error = (validateShape.errors ?? [])[0] as ErrorObject;
    throw new DefinitionError(file, fieldOf(error), messageOf(error));
  }
  const def = doc as Omit<WorkflowDefinition, 'digest'>;
  const expected = path.basename(file).replace(/\.ya?ml$/, '');
  if (def.name !== expected)
    throw new DefinitionError(file, 'name', `must match the file name ("${expected}")`);
  try {
    ajv.compile(def.parameters);
  } catch (e) {
    throw new DefinitionError(
      file,
      'parameters',
      `is not a valid JSON Schema: ${(e as Error).message}`,
    );
  }
  const problems = dagProblems(def.jobs);
  if (problems.length > 0) throw new DefinitionError(file, 'jobs', problems.join('; '));
  def.jobs.forEach((job: JobDefinition, i) => {
    // A builtin step runs inside the worker: it reserves nothing unless it says so.
    const builtin = job.executable.startsWith('builtin:');
    job.requestCpus ??= builtin ? 0 : 1;
    job.requestMemory ??= builtin ? '0' : '1G';
    job.requirements.labels ??= [];
    const dims = job.scatter ? Object.keys(job.scatter) : [];
    const fields: Array<[string, string[]]> = [
      ['arguments', job.arguments],
      ['outputs', job.outputs],
      ['env', Object.values(job.env)],
    ];
    for (const [field, templates] of fields) {
      for (const t of templates) {
        const found = templateProblems(t, dims, field === 'outputs');
        if (found.length > 0)
          throw new DefinitionError(file, `jobs.${i}.${field}`, found.join('; '));
      }
    }
  });
  return { ...def, digest: createHash('sha256').update(text).digest('hex') };
}

/** Loads every *.yaml of a folder; the first bad file stops the load. */
export function loadDefinitions(dir: string): WorkflowDefinition[] {
  if (!fs.existsSync(dir)) throw new DefinitionError(dir, '(folder)', 'does not exist');
  return fs
    .readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => {
      const file = path.join(dir, f);
      return parseDefinition(file, fs.readFileSync(file, 'utf8'));
    });
}
