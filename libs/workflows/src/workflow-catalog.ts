import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import {
  closestWords,
  didYouMean,
  invalid,
  notFound,
  WfsError,
  WorkflowDefinition,
} from '@wfs/domain';
import { Database } from '@wfs/persistence';
import { loadDefinitions } from './load-definitions';

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, coerceTypes: false });
addFormats(ajv);

/** What is wrong with one parameter, in words that say what would be right. */
function problemOf(e: ErrorObject, def: WorkflowDefinition): string {
  const properties =
    (def.parameters as { properties?: Record<string, { description?: string }> }).properties ?? {};
  switch (e.keyword) {
    case 'additionalProperties': {
      const known = Object.keys(properties);
      const hint = didYouMean(String(e.params.additionalProperty), known);
      return `is not a parameter of this workflow.${hint || ` Its parameters: ${known.join(', ') || 'none'}.`}`;
    }
    case 'required':
      return 'is required';
    case 'enum': {
      const allowed = e.params.allowedValues as unknown[];
      return `must be one of: ${allowed.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ')}`;
    }
    case 'pattern': {
      const about = properties[e.instancePath.split('/')[1] ?? '']?.description;
      return `must match ${String(e.params.pattern)}${about ? `; ${about.trim()}` : ''}`;
    }
    default:
      return e.message ?? 'is invalid';
  }
}

/**
 * The workflows this service offers (loaded from YAML at start-up) and every
 * definition a stored run was created from (by digest, from Postgres), so a
 * run in flight keeps its own recipe even after the file changes.
 */
export class WorkflowCatalog {
  private readonly current = new Map<string, WorkflowDefinition>();
  private readonly byDigest = new Map<string, WorkflowDefinition>();
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(
    private readonly db: Database,
    definitions: WorkflowDefinition[],
  ) {
    for (const def of definitions) {
      this.current.set(def.name, def);
      this.byDigest.set(def.digest, def);
    }
  }

  static async load(db: Database, dir: string): Promise<WorkflowCatalog> {
    const catalog = new WorkflowCatalog(db, loadDefinitions(dir));
    await catalog.register();
    return catalog;
  }

  /** Stores each current definition once, keyed by digest. */
  private async register(): Promise<void> {
    const defs = [...this.current.values()];
    if (defs.length === 0) return;
    await this.db.query(
      `INSERT INTO workflow_definitions (digest, name, version, definition)
       SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::jsonb[])
       ON CONFLICT (digest) DO NOTHING`,
      [
        defs.map((d) => d.digest),
        defs.map((d) => d.name),
        defs.map((d) => d.version),
        defs.map((d) => JSON.stringify(d)),
      ],
    );
  }

  list(): WorkflowDefinition[] {
    return [...this.current.values()];
  }

  get(name: string): WorkflowDefinition {
    const def = this.current.get(name);
    if (!def) {
      const known = [...this.current.keys()].sort();
      const close = closestWords(name, known);
      throw new WfsError(
        'not_found',
        'WORKFLOW_NOT_FOUND',
        `No workflow ${name}.${didYouMean(name, known)} (wfs workflows lists them.)`,
        { workflow: name, ...(close.length > 0 ? { suggestions: close } : {}) },
      );
    }
    return def;
  }

  async getByDigest(digest: string): Promise<WorkflowDefinition> {
    const known = this.byDigest.get(digest);
    if (known) return known;
    const rows = await this.db.query<{ definition: WorkflowDefinition }>(
      'SELECT definition FROM workflow_definitions WHERE digest = $1',
      [digest],
    );
    const def = rows[0]?.definition;
    if (!def) throw notFound('workflow definition', digest);
    this.byDigest.set(digest, def);
    return def;
  }

  /** Parameters with the schema's defaults applied, or a 400 naming each bad field. */
  validateParameters(def: WorkflowDefinition, parameters: unknown): Record<string, unknown> {
    let validate = this.validators.get(def.digest);
    if (!validate) {
      validate = ajv.compile(def.parameters);
      this.validators.set(def.digest, validate);
    }
    const copy: unknown = structuredClone(parameters ?? {});
    if (!validate(copy)) {
      const fields: Record<string, string> = {};
      for (const e of validate.errors ?? []) {
        const base = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
        const extra =
          e.keyword === 'additionalProperties'
            ? String(e.params.additionalProperty)
            : e.keyword === 'required'
              ? String(e.params.missingProperty)
              : '';
        const field = ['parameters', base, extra].filter(Boolean).join('.');
        fields[field] = problemOf(e, def);
      }
      throw invalid('INVALID_PARAMETERS', `The parameters do not match the ${def.name} schema.`, {
        fields,
      });
    }
    return copy as Record<string, unknown>;
  }
}
