import { invalid } from './errors';

/** What a job's arguments, outputs and environment may refer to. */
export interface TemplateContext {
  runId: number;
  version: number;
  workflow: string;
  subject: string;
  /** The subject as it appears in file and directory names (see fileSafeSubject). */
  fileSafeSubject: string;
  parameters: Record<string, unknown>;
  dirs: {
    root: string;
    rawdata: string;
    working: string;
    products: string;
    inputs: string;
    /** The file this instance may write its result to (one JSON object, at most 64 KiB). */
    result?: string;
  };
  item: Record<string, string | number>;
  index: number;
  /** The round of a repeated job (`repeat`), from 1; 1 for any other. */
  round?: number;
  /** Earlier jobs' results (`{{jobs.<name>.result.<key>}}`), for the jobs this one needs. */
  jobs?: Record<string, { result: unknown }>;
}

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}/g;

/** The placeholders a template string uses, e.g. ["parameters.spw", "subject"]. */
export function placeholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1] as string);
}

function lookup(context: TemplateContext, path: string): unknown {
  let value: unknown = context;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function show(value: unknown): string {
  if (Array.isArray(value)) return value.map(show).join(',');
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * Renders one argument. The result is one argv element handed to spawn with
 * no shell: whatever a parameter holds (`; rm -rf`, `$(...)`) stays literal.
 * A placeholder with no value renders as empty, except the roots of the
 * context, which must exist (checked when the definition is loaded).
 */
export function render(template: string, context: TemplateContext): string {
  return template.replace(PLACEHOLDER, (_, path: string) => {
    const value = lookup(context, path);
    return value === undefined || value === null ? '' : show(value);
  });
}

const ROOTS = new Set([
  'runId',
  'version',
  'workflow',
  'subject',
  'fileSafeSubject',
  'parameters',
  'dirs',
  'item',
  'index',
  'jobs',
  'round',
]);
const DIRS = new Set(['root', 'rawdata', 'working', 'products', 'inputs', 'result']);

/**
 * Placeholders a definition may not use (checked at load time), as messages.
 * A path (`asPath`: a job's outputs) may not hold `{{subject}}`: a subject is
 * never a path (`uid://A001/X1284/X2c1`), its file-safe form is.
 */
export function templateProblems(
  template: string,
  scatterDims: readonly string[],
  asPath = false,
  /** The jobs this job (transitively) needs: the only ones whose results it may read. */
  ancestors: ReadonlySet<string> = new Set(),
): string[] {
  const problems: string[] = [];
  for (const path of placeholders(template)) {
    const [root, child] = path.split('.');
    if (asPath && root === 'subject') {
      problems.push('{{subject}} is not a file name: use {{fileSafeSubject}} in paths');
      continue;
    }
    if (!root || !ROOTS.has(root)) problems.push(`unknown placeholder {{${path}}}`);
    else if (root === 'dirs' && (!child || !DIRS.has(child)))
      problems.push(`unknown directory {{${path}}}`);
    else if (root === 'item' && (!child || !scatterDims.includes(child)))
      problems.push(`{{${path}}} is not a scatter dimension of this job`);
    else if (root === 'jobs') {
      const [, name, what] = path.split('.');
      if (what !== 'result') problems.push(`{{${path}}}: say {{jobs.<name>.result.<key>}}`);
      else if (!name || !ancestors.has(name))
        problems.push(
          `{{${path}}} reads job "${name}", which this job does not (transitively) need`,
        );
    }
  }
  return problems;
}

export function assertRenderable(template: string, scatterDims: readonly string[]): void {
  const problems = templateProblems(template, scatterDims);
  if (problems.length > 0) throw invalid('INVALID_TEMPLATE', problems.join('; '));
}
