/**
 * Composition of definitions (WORKFLOWS v1.1 "Composition"): libraries of
 * job templates brought in by `include:`, jobs that `use:` a template, and
 * jobs that expand into a sub-workflow's jobs (`workflow:` with `with:`).
 * All of it happens when the definitions load: what is stored (and digested)
 * is the expanded definition, as plain jobs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv, { ErrorObject } from 'ajv';
import { parse } from 'yaml';
import {
  didYouMean,
  JOB_NAME,
  JobDefinition,
  placeholders,
  ScatterSource,
  templateProblems,
  WorkflowDefinition,
} from '@wfs/domain';
import { DefinitionError, fieldOf, messageOf } from './definition-error';
import { JOB_PROPERTIES, NAME } from './definition-schema';

/** A template's job fields and the library file (relative to the workflows directory) it is in. */
export interface Template {
  fields: Record<string, unknown>;
  file: string;
}
export type Templates = Map<string, Template>;

/** Everything a job has but its name: what a template may set. */
const { name: _name, ...TEMPLATE_PROPERTIES } = JOB_PROPERTIES;

const INCLUDE = { type: 'array', items: { type: 'string', minLength: 1 } } as const;

const LIBRARY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['templates'],
  properties: {
    description: { type: 'string' },
    include: INCLUDE,
    templates: {
      type: 'object',
      propertyNames: { pattern: NAME },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: TEMPLATE_PROPERTIES,
      },
    },
  },
} as const;

// No defaults in templates: a job's own schema fills them after the merge.
const strictAjv = new Ajv({ allErrors: false, useDefaults: false, strict: false });
const validateLibrary = strictAjv.compile(LIBRARY_SCHEMA);
const validateInclude = strictAjv.compile(INCLUDE);
// `with` is validated as run parameters are: all errors, the inner schema's defaults filled in.
const withAjv = new Ajv({ allErrors: true, useDefaults: true, strict: false, coerceTypes: false });

/** A library: `templates:` at the top and no `name` or `jobs` (so never taken for a workflow). */
export function isLibrary(doc: unknown): boolean {
  return (
    doc !== null &&
    typeof doc === 'object' &&
    !Array.isArray(doc) &&
    'templates' in doc &&
    !('name' in doc) &&
    !('jobs' in doc)
  );
}

/** `dir/<p>` for an include path, refused unless it is a YAML file inside the workflows directory. */
function includedFile(dir: string, from: string, field: string, p: string): string {
  if (path.isAbsolute(p) || p.includes('\\'))
    throw new DefinitionError(
      from,
      field,
      `"${p}" must be a path relative to the workflows directory`,
    );
  if (p.split('/').includes('..'))
    throw new DefinitionError(from, field, `"${p}" may not climb out of the workflows directory`);
  if (!/\.ya?ml$/.test(p)) throw new DefinitionError(from, field, `"${p}" is not a .yaml file`);
  const file = path.join(dir, p);
  if (!fs.existsSync(file) || !fs.statSync(file).isFile())
    throw new DefinitionError(from, field, `no library ${p} in ${dir}`);
  // Nor through a link that leads out of it.
  const root = fs.realpathSync(dir);
  if (!fs.realpathSync(file).startsWith(root + path.sep))
    throw new DefinitionError(from, field, `"${p}" leads out of the workflows directory`);
  return file;
}

/** The template libraries of one workflows directory, each read once. */
export class Libraries {
  private readonly loaded = new Map<string, Templates>();

  constructor(readonly dir: string) {}

  /** The workflows-directory-relative name of a file, as cycles and errors show it. */
  rel(file: string): string {
    return path.relative(this.dir, file).split(path.sep).join('/');
  }

  /**
   * The templates `include` brings into `from` (a workflow or a library),
   * `chain` being the files that include it (for cycles). Throws on a bad
   * path, a bad library, a cycle, or a template name two libraries define.
   */
  include(from: string, include: unknown, chain: readonly string[] = []): Templates {
    if (!validateInclude(include)) {
      const error = (validateInclude.errors ?? [])[0] as ErrorObject;
      throw new DefinitionError(from, fieldOf(error, 'include'), 'must be a list of library paths');
    }
    const here = [...chain, this.rel(from)];
    const templates: Templates = new Map();
    (include as string[]).forEach((p, i) => {
      const field = `include.${i}`;
      const file = includedFile(this.dir, from, field, p);
      const rel = this.rel(file);
      if (here.includes(rel))
        throw new DefinitionError(
          from,
          field,
          `include cycle: ${[...here.slice(here.indexOf(rel)), rel].join(' -> ')}`,
        );
      for (const [name, t] of this.library(file, here)) {
        const other = templates.get(name);
        if (other && other.file !== t.file)
          throw new DefinitionError(
            from,
            field,
            `template "${name}" of ${t.file} is also defined in ${other.file}`,
          );
        templates.set(name, t);
      }
    });
    return templates;
  }

  /** One library file's templates, with those it includes. */
  library(file: string, chain: readonly string[] = []): Templates {
    const rel = this.rel(file);
    const known = this.loaded.get(rel);
    if (known) return known;
    let doc: unknown;
    try {
      doc = parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new DefinitionError(
        file,
        '(yaml)',
        (e as Error).message.split('\n')[0] ?? 'unreadable',
      );
    }
    if (!isLibrary(doc))
      throw new DefinitionError(
        file,
        '(top level)',
        'is not a library: a library holds `templates:` and no `name` or `jobs`',
      );
    if (!validateLibrary(doc)) {
      const error = (validateLibrary.errors ?? [])[0] as ErrorObject;
      throw new DefinitionError(file, fieldOf(error), messageOf(error));
    }
    const lib = doc as { include?: string[]; templates: Record<string, Record<string, unknown>> };
    const templates = lib.include ? this.include(file, lib.include, chain) : new Map();
    for (const [name, fields] of Object.entries(lib.templates)) {
      const other = templates.get(name);
      if (other)
        throw new DefinitionError(file, `templates.${name}`, `is also defined in ${other.file}`);
      templates.set(name, { fields, file: rel });
    }
    this.loaded.set(rel, templates);
    return templates;
  }
}

/**
 * Jobs with `use: <template>` take the template's fields, then their own
 * over them: each field the job sets replaces the template's (lists are not
 * joined), except `env`, merged name by name (the job's value wins).
 */
export function applyTemplates(file: string, jobs: unknown, templates: Templates): void {
  if (!Array.isArray(jobs)) return;
  jobs.forEach((job: unknown, i) => {
    if (job === null || typeof job !== 'object' || !('use' in job)) return;
    const { use, ...own } = job as Record<string, unknown>;
    const field = `jobs.${i}.use`;
    if (typeof use !== 'string') throw new DefinitionError(file, field, 'must be a template name');
    const template = templates.get(use);
    if (!template) {
      const known = [...templates.keys()].sort();
      throw new DefinitionError(
        file,
        field,
        `unknown template "${use}".${didYouMean(use, known) || (known.length > 0 ? ` Templates: ${known.join(', ')}.` : ' No included library holds templates (include: [...]).')}`,
      );
    }
    const merged: Record<string, unknown> = { ...structuredClone(template.fields), ...own };
    const [a, b] = [template.fields.env, own.env];
    if (a && b && typeof a === 'object' && typeof b === 'object')
      merged.env = { ...structuredClone(a), ...b };
    jobs[i] = merged;
  });
}

/** A job that runs a sub-workflow, as the schema leaves it. */
export interface SubWorkflowJob {
  name: string;
  workflow: string;
  with: Record<string, unknown>;
  needs: string[];
}

export const isSubWorkflowJob = (job: object): job is SubWorkflowJob => 'workflow' in job;

/** A `with` value: a literal, or text holding placeholders rendered with the outer run's context. */
type WithValue = { literal: unknown } | { template: string };

/** `{{parameters.x}}` (or `.x.y`) and nothing else: forwards an outer parameter. */
const FORWARD = /^\{\{\s*(parameters(?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*\}\}$/;
const PARAMETER = /\{\{\s*(parameters(?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*\}\}/g;
/** Most instances a literal integer in `with` may make a scatter dimension of. */
const MAX_LITERAL_SCATTER = 100_000;

function show(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.map(show).join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function propertiesOf(schema: Record<string, unknown>): Record<string, unknown> | null {
  const p = schema.properties;
  return p && typeof p === 'object' ? (p as Record<string, unknown>) : null;
}

/**
 * `with` checked against the inner workflow's parameter schema (its defaults
 * filled in). A value holding `{{...}}` is a template of the outer workflow:
 * its placeholders are checked as an argument's are, and it is not checked
 * against the inner type (it has none until the run is planned).
 */
function withValues(
  file: string,
  i: number,
  job: SubWorkflowJob,
  inner: WorkflowDefinition,
  outerParameters: Record<string, unknown>,
): Map<string, WithValue> {
  const field = `jobs.${i}.with`;
  const templates = new Map<string, string>();
  const literal: Record<string, unknown> = {};
  const innerProps = propertiesOf(inner.parameters) ?? {};
  const outerProps = propertiesOf(outerParameters);
  for (const [k, v] of Object.entries(job.with)) {
    if (typeof v !== 'string' || !v.includes('{{')) {
      literal[k] = v;
      continue;
    }
    const problems = templateProblems(v, []);
    for (const p of placeholders(v)) {
      const [root, name] = p.split('.');
      if (root === 'parameters' && name && outerProps && !Object.hasOwn(outerProps, name))
        problems.push(`{{${p}}}: this workflow has no parameter ${name}`);
    }
    if (problems.length > 0) throw new DefinitionError(file, `${field}.${k}`, problems.join('; '));
    if (inner.parameters.additionalProperties === false && !Object.hasOwn(innerProps, k))
      throw new DefinitionError(
        file,
        `${field}.${k}`,
        `is not a parameter of ${inner.name}.${didYouMean(k, Object.keys(innerProps))}`,
      );
    templates.set(k, v);
  }
  const validate = withAjv.compile(inner.parameters);
  const values = structuredClone(literal);
  if (!validate(values)) {
    const error = (validate.errors ?? []).find(
      (e) => !(e.keyword === 'required' && templates.has(String(e.params.missingProperty))),
    );
    if (error) {
      const known = Object.keys(innerProps);
      const hint =
        error.keyword === 'additionalProperties'
          ? ` of ${inner.name}.${didYouMean(String(error.params.additionalProperty), known) || ` Its parameters: ${known.join(', ') || 'none'}.`}`
          : '';
      throw new DefinitionError(
        file,
        fieldOf(error, field),
        error.keyword === 'additionalProperties'
          ? `is not a parameter${hint}`
          : `${messageOf(error)} (the ${inner.name} parameter schema)`,
      );
    }
  }
  const out = new Map<string, WithValue>();
  for (const [k, v] of Object.entries(values as Record<string, unknown>))
    out.set(k, { literal: v });
  for (const [k, t] of templates) out.set(k, { template: t });
  return out;
}

/** One inner job of a sub-workflow, renamed and with the `with` values in place of its parameters. */
function innerJob(
  file: string,
  i: number,
  outer: SubWorkflowJob,
  inner: WorkflowDefinition,
  job: JobDefinition,
  values: Map<string, WithValue>,
): JobDefinition {
  const name = `${outer.name}.${job.name}`;
  if (!JOB_NAME.test(name))
    throw new DefinitionError(file, `jobs.${i}.name`, `makes job "${name}" (over 200 characters)`);
  const text = (s: string): string =>
    s.replace(PARAMETER, (_, p: string) => {
      const [, key = '', ...rest] = p.split('.');
      const value = values.get(key);
      if (!value) return ''; // unset: renders as empty, as it would have in the inner workflow
      if ('literal' in value) {
        let v: unknown = value.literal;
        for (const r of rest)
          v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[r] : undefined;
        return show(v);
      }
      if (rest.length === 0) return value.template;
      const forward = FORWARD.exec(value.template);
      if (forward) return `{{${forward[1]}.${rest.join('.')}}}`;
      throw new DefinitionError(
        file,
        `jobs.${i}.with.${key}`,
        `${inner.name}.${job.name} uses {{${p}}}: give a value or {{parameters.<name>}}, not text`,
      );
    });
  let scatter: Record<string, ScatterSource> | null = null;
  if (job.scatter) {
    scatter = {};
    for (const [dim, source] of Object.entries(job.scatter)) {
      if (Array.isArray(source)) {
        scatter[dim] = [...source];
        continue;
      }
      const key = source as string;
      const where = `jobs.${i}.with.${key}`;
      const about = `${inner.name}.${job.name} scatters over it`;
      const value = values.get(key);
      if (!value) throw new DefinitionError(file, where, `is required: ${about}`);
      if ('template' in value) {
        const forward = FORWARD.exec(value.template);
        if (!forward || forward[1]?.split('.').length !== 2)
          throw new DefinitionError(
            file,
            where,
            `must be {{parameters.<name>}} or a value: ${about}`,
          );
        scatter[dim] = (forward[1] as string).split('.')[1] as string;
        continue;
      }
      const v = value.literal;
      if (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_LITERAL_SCATTER)
        scatter[dim] = Array.from({ length: v as number }, (_, n) => n);
      else if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number'))
        scatter[dim] = [...(v as Array<string | number>)];
      else
        throw new DefinitionError(
          file,
          where,
          `must be an integer from 0 to ${MAX_LITERAL_SCATTER} or a list: ${about}`,
        );
    }
  }
  return {
    ...structuredClone(job),
    name,
    needs: job.needs.map((n) => `${outer.name}.${n}`),
    arguments: job.arguments.map(text),
    outputs: job.outputs.map(text),
    env: Object.fromEntries(Object.entries(job.env).map(([k, v]) => [k, text(v)])),
    scatter,
  };
}

/**
 * Replaces each sub-workflow job by the inner workflow's jobs, named
 * `<job>.<inner>` in its place in the list: their needs among themselves
 * kept (renamed), the outer job's needs given to the inner roots (jobs that
 * need nothing), and the jobs that need the outer job made to need the
 * inner sinks (jobs nothing inside needs).
 */
export function expandSubWorkflows(
  file: string,
  jobs: ReadonlyArray<JobDefinition | SubWorkflowJob>,
  outerParameters: Record<string, unknown>,
  innerWorkflow: (name: string, field: string) => WorkflowDefinition,
): JobDefinition[] {
  const sinks = new Map<string, string[]>();
  const expanded = new Map<number, JobDefinition[]>();
  jobs.forEach((job, i) => {
    if (!isSubWorkflowJob(job)) return;
    const inner = innerWorkflow(job.workflow, `jobs.${i}.workflow`);
    const values = withValues(file, i, job, inner, outerParameters);
    const needed = new Set(inner.jobs.flatMap((j) => j.needs));
    sinks.set(
      job.name,
      inner.jobs.filter((j) => !needed.has(j.name)).map((j) => `${job.name}.${j.name}`),
    );
    expanded.set(
      i,
      inner.jobs.map((j) => innerJob(file, i, job, inner, j, values)),
    );
  });
  const rewrite = (needs: readonly string[]): string[] => [
    ...new Set(needs.flatMap((n) => sinks.get(n) ?? [n])),
  ];
  return jobs.flatMap((job, i) => {
    if (!isSubWorkflowJob(job)) return [{ ...job, needs: rewrite(job.needs) }];
    const roots = rewrite(job.needs);
    return (expanded.get(i) ?? []).map((j) =>
      j.needs.length === 0 ? { ...j, needs: [...roots] } : j,
    );
  });
}
