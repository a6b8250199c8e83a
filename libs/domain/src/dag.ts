import { JobDefinition, ScatterSource } from './definition';
import { invalid } from './errors';

export type ScatterItem = Record<string, string | number>;

export interface PlannedGroup {
  /** Its scatter takes a list from an earlier job's result: planned when that job is done (no items yet). */
  dynamic?: boolean;
  name: string;
  /** Position in a topological order: stable display order and dispatch order. */
  position: number;
  needs: string[];
  items: ItemList | null; // null: not scattered, one instance
}

/**
 * A group's scatter items as the plan holds them: an array (a dynamic
 * scatter's list), or a static scatter's product computed item by item
 * (ScatterProduct), so a million-instance plan is never a million objects.
 */
export interface ItemList {
  readonly length: number;
  at(index: number): ScatterItem | undefined;
  slice(start?: number, end?: number): ScatterItem[];
}

/** The cartesian product of scatter dimensions, row-major (first dimension slowest), item by item. */
export class ScatterProduct implements ItemList {
  readonly length: number;

  constructor(
    private readonly dims: ReadonlyArray<readonly [string, ReadonlyArray<string | number>]>,
  ) {
    this.length = dims.reduce((n, [, values]) => n * values.length, 1);
  }

  at(index: number): ScatterItem | undefined {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) return undefined;
    const picks: Array<string | number> = new Array(this.dims.length);
    let rest = index;
    for (let d = this.dims.length - 1; d >= 0; d--) {
      const values = (this.dims[d] as readonly [string, ReadonlyArray<string | number>])[1];
      picks[d] = values[rest % values.length] as string | number;
      rest = Math.floor(rest / values.length);
    }
    const item: ScatterItem = {};
    this.dims.forEach(([dim], d) => (item[dim] = picks[d] as string | number));
    return item;
  }

  *[Symbol.iterator](): IterableIterator<ScatterItem> {
    for (let i = 0; i < this.length; i++) yield this.at(i) as ScatterItem;
  }

  slice(start = 0, end = this.length): ScatterItem[] {
    const out: ScatterItem[] = [];
    for (let i = Math.max(0, start); i < Math.min(end, this.length); i++)
      out.push(this.at(i) as ScatterItem);
    return out;
  }
}

/**
 * Problems of the DAG itself (duplicate names, unknown needs, cycles), as
 * human sentences naming the job. Empty when the DAG is sound.
 */
export function dagProblems(jobs: readonly Pick<JobDefinition, 'name' | 'needs'>[]): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  for (const job of jobs) {
    if (names.has(job.name)) problems.push(`job "${job.name}" is defined twice`);
    names.add(job.name);
  }
  for (const job of jobs) {
    for (const need of job.needs) {
      if (!names.has(need)) problems.push(`job "${job.name}" needs unknown job "${need}"`);
      if (need === job.name) problems.push(`job "${job.name}" needs itself`);
    }
  }
  if (problems.length === 0 && topologicalOrder(jobs) === null) {
    problems.push('the jobs form a cycle through their "needs"');
  }
  return problems;
}

/** Kahn's algorithm; null when there is a cycle. Ties keep definition order. */
export function topologicalOrder<T extends Pick<JobDefinition, 'name' | 'needs'>>(
  jobs: readonly T[],
): T[] | null {
  const remaining = new Map(jobs.map((j) => [j.name, new Set(j.needs)]));
  const order: T[] = [];
  while (order.length < jobs.length) {
    const next = jobs.find((j) => remaining.get(j.name)?.size === 0 && !order.includes(j));
    if (!next) return null;
    order.push(next);
    for (const deps of remaining.values()) deps.delete(next.name);
  }
  return order;
}

/** The values one scatter dimension takes for these parameters. */
function dimensionValues(
  dim: string,
  source: ScatterSource,
  parameters: Record<string, unknown>,
): Array<string | number> {
  if (Array.isArray(source)) return [...source];
  const value = parameters[source as string];
  if (Number.isInteger(value) && (value as number) >= 0) {
    return Array.from({ length: value as number }, (_, i) => i);
  }
  if (Array.isArray(value) && value.every((v) => typeof v === 'string' || typeof v === 'number')) {
    return value as Array<string | number>;
  }
  throw invalid(
    'INVALID_SCATTER',
    `Scatter dimension "${dim}" needs parameter "${String(source)}" to be a non-negative integer or a list.`,
    {
      parameter: source,
    },
  );
}

/** Number of instances a scatter yields, computed without building them. */
export function scatterCount(
  scatter: Record<string, ScatterSource>,
  parameters: Record<string, unknown>,
): number {
  return Object.entries(scatter).reduce(
    (n, [dim, source]) => n * dimensionValues(dim, source, parameters).length,
    1,
  );
}

/** The cartesian product of the dimensions, in row-major order (first dimension slowest). */
export function expandScatter(
  scatter: Record<string, ScatterSource>,
  parameters: Record<string, unknown>,
): ScatterItem[] {
  return scatterProduct(scatter, parameters).slice();
}

/** The same product, computed item by item when asked (what a plan holds). */
export function scatterProduct(
  scatter: Record<string, ScatterSource>,
  parameters: Record<string, unknown>,
): ScatterProduct {
  return new ScatterProduct(
    Object.entries(scatter).map(
      ([dim, source]) => [dim, dimensionValues(dim, source, parameters)] as const,
    ),
  );
}

/**
 * Plans a run: one group per job in topological order, with its scatter
 * items. Refuses (400) a plan over `maxInstances` in total or a scatter that
 * yields nothing, before any row is written.
 */
export function planRun(
  jobs: readonly JobDefinition[],
  parameters: Record<string, unknown>,
  maxInstances: number,
): PlannedGroup[] {
  const order = topologicalOrder(jobs);
  if (!order) throw invalid('INVALID_WORKFLOW', 'The workflow DAG has a cycle.');
  let total = 0;
  const counts = order.map((job) =>
    isDynamic(job) ? 0 : job.scatter ? scatterCount(job.scatter, parameters) : 1,
  );
  for (const [i, job] of order.entries()) {
    const count = counts[i] ?? 1;
    if (count === 0 && !isDynamic(job)) {
      throw invalid(
        'EMPTY_SCATTER',
        `Job "${job.name}" scatters over nothing with these parameters.`,
        {
          job: job.name,
        },
      );
    }
    total += count;
  }
  if (total > maxInstances) {
    throw invalid(
      'TOO_MANY_JOBS',
      `These parameters make ${total} job instances; the limit is ${maxInstances}.`,
      { instances: total, limit: maxInstances },
    );
  }
  return order.map((job, position) => ({
    name: job.name,
    position,
    needs: [...job.needs],
    ...(isDynamic(job)
      ? { dynamic: true, items: [] }
      : { items: job.scatter ? scatterProduct(job.scatter, parameters) : null }),
  }));
}

/** A scatter dimension that takes its list from an earlier job's result (`{{jobs.x.result.key}}`). */
export const DYNAMIC_SOURCE =
  /^\{\{\s*jobs\.([A-Za-z_][A-Za-z0-9_]*)\.result((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*\}\}$/;

export const isDynamic = (job: Pick<JobDefinition, 'scatter'>): boolean =>
  !!job.scatter &&
  Object.values(job.scatter).some((s) => typeof s === 'string' && DYNAMIC_SOURCE.test(s));

/**
 * The items of a dynamic scatter, from the results of the jobs it names
 * (and its static dimensions from the parameters), or why there are none:
 * a result that is not a list of strings or numbers (`bad_scatter`).
 */
export function dynamicItems(
  scatter: Record<string, ScatterSource>,
  parameters: Record<string, unknown>,
  results: Readonly<Record<string, unknown>>,
): ScatterItem[] | { bad: string } {
  let items: ScatterItem[] = [{}];
  for (const [dim, source] of Object.entries(scatter)) {
    let values: Array<string | number>;
    const m = typeof source === 'string' ? DYNAMIC_SOURCE.exec(source) : null;
    if (m) {
      let value: unknown = results[m[1] as string];
      for (const key of (m[2] as string).slice(1).split('.'))
        value =
          value !== null && typeof value === 'object' && Object.hasOwn(value, key)
            ? (value as Record<string, unknown>)[key]
            : undefined;
      if (
        !Array.isArray(value) ||
        !value.every((v) => typeof v === 'string' || typeof v === 'number')
      )
        return {
          bad: `scatter dimension "${dim}" takes ${source}, which is ${value === undefined ? 'missing' : JSON.stringify(value).slice(0, 80)}, not a list of strings or numbers`,
        };
      values = value as Array<string | number>;
    } else values = dimensionValues(dim, source, parameters);
    items = items.flatMap((item) => values.map((v) => ({ ...item, [dim]: v })));
  }
  return items;
}

/** Groups not started whose needs are all complete, given the complete ones. */
export function readyGroups(
  groups: readonly Pick<PlannedGroup, 'name' | 'needs'>[],
  complete: ReadonlySet<string>,
  started: ReadonlySet<string>,
): string[] {
  return groups
    .filter((g) => !started.has(g.name) && g.needs.every((n) => complete.has(n)))
    .map((g) => g.name);
}
