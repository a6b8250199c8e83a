import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv, { ErrorObject } from 'ajv';
import { parse } from 'yaml';
import { ROLES } from '@wfs/config';
import type { Role } from '@wfs/config';
import {
  ancestorsOf,
  checkExpression,
  DYNAMIC_SOURCE,
  dagProblems,
  didYouMean,
  JobDefinition,
  templateProblems,
  WorkflowDefinition,
} from '@wfs/domain';
import {
  applyTemplates,
  expandSubWorkflows,
  isLibrary,
  isSubWorkflowJob,
  Libraries,
  SubWorkflowJob,
} from './composition';
import { DefinitionError, fieldOf, messageOf } from './definition-error';
import { DEFINITION_SCHEMA } from './definition-schema';

export { DefinitionError } from './definition-error';

const ajv = new Ajv({ allErrors: false, useDefaults: true, strict: false });
const validateShape = ajv.compile(DEFINITION_SCHEMA);

const isYaml = (f: string): boolean => /\.ya?ml$/.test(f);

function parseYaml(file: string, text: string): unknown {
  try {
    return parse(text);
  } catch (e) {
    throw new DefinitionError(
      file,
      '(yaml)',
      (e as Error).message.split('\n')[0] ?? 'unreadable YAML',
    );
  }
}

/**
 * Loads the definitions of one workflows directory: each file once, its
 * libraries and sub-workflows with it (WORKFLOWS v1.1 "Composition"),
 * stopping at the first bad file or at a cycle.
 */
class DefinitionLoader {
  private readonly libraries: Libraries;
  private readonly done = new Map<string, WorkflowDefinition>();
  /** The files being loaded, outermost first: a sub-workflow among them is a cycle. */
  private readonly loading: string[] = [];
  private workflowFiles: Map<string, string> | null = null;

  constructor(private readonly dir: string) {
    this.libraries = new Libraries(dir);
  }

  /** Workflow name -> file, for the top-level files of the directory that are not libraries. */
  private files(): Map<string, string> {
    if (!this.workflowFiles) {
      this.workflowFiles = new Map();
      for (const f of fs.readdirSync(this.dir).filter(isYaml).sort()) {
        const file = path.join(this.dir, f);
        if (!fs.statSync(file).isFile()) continue;
        let doc: unknown = null;
        try {
          doc = parse(fs.readFileSync(file, 'utf8'));
        } catch {
          // Not readable: it is a workflow as far as naming goes; loading it says what is wrong.
        }
        if (!isLibrary(doc)) this.workflowFiles.set(f.replace(/\.ya?ml$/, ''), file);
      }
    }
    return this.workflowFiles;
  }

  /** Every workflow of the directory (libraries are loaded, so checked, but not returned). */
  all(): WorkflowDefinition[] {
    const defs: WorkflowDefinition[] = [];
    for (const f of fs.readdirSync(this.dir).filter(isYaml).sort()) {
      const file = path.join(this.dir, f);
      if (!fs.statSync(file).isFile()) continue;
      const text = fs.readFileSync(file, 'utf8');
      if (isLibrary(parseYaml(file, text))) this.libraries.library(file);
      else defs.push(this.load(file, text));
    }
    return defs;
  }

  /** One workflow file's definition, once. */
  load(file: string, text: string): WorkflowDefinition {
    const rel = this.libraries.rel(file);
    const known = this.done.get(rel);
    if (known) return known;
    this.loading.push(rel);
    try {
      const def = this.parse(file, text);
      this.done.set(rel, def);
      return def;
    } finally {
      this.loading.pop();
    }
  }

  /** The workflow a `workflow:` job of `from` names. */
  private inner(from: string, name: string, field: string): WorkflowDefinition {
    const files = this.files();
    const file = files.get(name);
    if (!file)
      throw new DefinitionError(
        from,
        field,
        `no workflow ${name} in ${this.dir}.${didYouMean(name, [...files.keys()])}`,
      );
    const rel = this.libraries.rel(file);
    if (this.loading.includes(rel))
      throw new DefinitionError(
        from,
        field,
        `workflow cycle: ${[...this.loading.slice(this.loading.indexOf(rel)), rel].join(' -> ')}`,
      );
    return this.load(file, fs.readFileSync(file, 'utf8'));
  }

  private parse(file: string, text: string): WorkflowDefinition {
    const doc = parseYaml(file, text);
    if (isLibrary(doc))
      throw new DefinitionError(file, '(top level)', 'is a library of templates, not a workflow');
    let composed = false;
    if (doc !== null && typeof doc === 'object' && 'include' in doc) {
      const { include, ...rest } = doc as Record<string, unknown>;
      const templates = this.libraries.include(file, include);
      applyTemplates(file, rest.jobs, templates);
      composed = true;
      return this.check(file, text, rest, composed);
    }
    applyTemplates(file, (doc as Record<string, unknown> | null)?.jobs, new Map());
    return this.check(file, text, doc, composed);
  }

  private check(file: string, text: string, doc: unknown, composed: boolean): WorkflowDefinition {
    if (!validateShape(doc)) {
      const error = (validateShape.errors ?? [])[0] as ErrorObject;
      throw new DefinitionError(file, fieldOf(error), messageOf(error));
    }
    const def = doc as Omit<WorkflowDefinition, 'digest' | 'jobs'> & {
      jobs: Array<JobDefinition | SubWorkflowJob>;
    };
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
    // The DAG as written (a sub-workflow job one node), so problems name what the file says.
    const problems = dagProblems(def.jobs);
    if (problems.length > 0) throw new DefinitionError(file, 'jobs', problems.join('; '));
    def.jobs.forEach((job, i) => {
      if (isSubWorkflowJob(job)) {
        composed = true;
        return;
      }
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
          const found = templateProblems(
            t,
            dims,
            field === 'outputs',
            new Set(ancestorsOf(def.jobs, job.name)),
          );
          if (found.length > 0)
            throw new DefinitionError(file, `jobs.${i}.${field}`, found.join('; '));
        }
      }
      if (job.executable === 'builtin:gate') {
        const field = `jobs.${i}`;
        if (!job.prompt)
          throw new DefinitionError(
            file,
            `${field}.prompt`,
            'a gate needs a prompt for the person who decides',
          );
        if (job.needs.length === 0)
          throw new DefinitionError(
            file,
            `${field}.needs`,
            'a gate opens when its needs are done: give it one',
          );
        if (job.scatter)
          throw new DefinitionError(
            file,
            `${field}.scatter`,
            'a gate is one decision: it may not scatter',
          );
        const unknown = (job.approvers ?? []).filter((r) => !ROLES.includes(r as Role));
        if (unknown.length > 0)
          throw new DefinitionError(
            file,
            `${field}.approvers`,
            `names unknown role(s) ${unknown.join(', ')} (roles: ${ROLES.join(', ')})`,
          );
      } else if (job.prompt || job.approvers || job.notify || job.onTimeout)
        throw new DefinitionError(
          file,
          `jobs.${i}.${job.prompt ? 'prompt' : job.approvers ? 'approvers' : job.notify ? 'notify' : 'onTimeout'}`,
          'is for gates only (executable: builtin:gate)',
        );
      // A dynamic scatter takes its list from the result of a job it (transitively) needs.
      for (const [dim, source] of Object.entries(job.scatter ?? {})) {
        if (typeof source !== 'string' || !source.includes('{{')) continue;
        const m = DYNAMIC_SOURCE.exec(source);
        const field = `jobs.${i}.scatter.${dim}`;
        if (!m)
          throw new DefinitionError(
            file,
            field,
            `say '{{jobs.<name>.result.<key>}}', not ${source}`,
          );
        if (!ancestorsOf(def.jobs, job.name).includes(m[1] as string))
          throw new DefinitionError(
            file,
            field,
            `reads job "${m[1]}", which this job does not (transitively) need`,
          );
      }
      if (job.events === 'summary' && !job.scatter)
        throw new DefinitionError(
          file,
          `jobs.${i}.events`,
          'summary events are for a scattered job (one that has a scatter)',
        );
      if (job.repeat) {
        if (job.scatter)
          throw new DefinitionError(file, `jobs.${i}.repeat`, 'a repeated job may not scatter');
        const problem = checkExpression(job.repeat.until, {
          knownJobs: new Set(def.jobs.map((j) => j.name)),
          ancestors: new Set(ancestorsOf(def.jobs, job.name)),
          allowSelf: job.name,
        });
        if (problem) throw new DefinitionError(file, `jobs.${i}.repeat.until`, problem);
      }
      if (job.when) {
        // Checked when its needs are done: a job that needs nothing has no such moment.
        if (job.needs.length === 0)
          throw new DefinitionError(
            file,
            `jobs.${i}.when`,
            'is checked when the job`s needs are done, and this job needs none: give it one (a builtin:noop step)',
          );
        const problem = checkExpression(job.when, {
          knownJobs: new Set(def.jobs.map((j) => j.name)),
          ancestors: new Set(ancestorsOf(def.jobs, job.name)),
        });
        if (problem) throw new DefinitionError(file, `jobs.${i}.when`, problem);
      }
    });
    const jobs = expandSubWorkflows(file, def.jobs, def.parameters, (name, field) =>
      this.inner(file, name, field),
    );
    const expandedProblems = dagProblems(jobs);
    if (expandedProblems.length > 0)
      throw new DefinitionError(file, 'jobs', `once expanded: ${expandedProblems.join('; ')}`);
    const out = { ...def, jobs };
    // A plain file is digested as it is; a composed one by what it expands to, so a change in a
    // library or a sub-workflow makes a new digest too.
    const digest = composed
      ? createHash('sha256')
          .update(`wfs-composed\n${JSON.stringify(out)}`)
          .digest('hex')
      : createHash('sha256').update(text).digest('hex');
    return { ...out, digest };
  }
}

/**
 * Parses and validates one definition file's text; throws DefinitionError.
 * Its libraries and sub-workflows are looked for in the file's directory.
 */
export function parseDefinition(file: string, text: string): WorkflowDefinition {
  return new DefinitionLoader(path.dirname(file)).load(file, text);
}

/**
 * Loads every workflow *.yaml of a folder (not its subfolders, and not the
 * template libraries at its top); the first bad file stops the load.
 */
export function loadDefinitions(dir: string): WorkflowDefinition[] {
  if (!fs.existsSync(dir)) throw new DefinitionError(dir, '(folder)', 'does not exist');
  return new DefinitionLoader(dir).all();
}
