import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { RequireRole } from '@wfs/auth';
import { ApiOp, LIMIT, RUN_ID } from './api-op';
import { DashboardReads } from './dashboard-reads';
import { boundedInt, PositiveInt } from './validation';

const HOURLY_FRESH_MS = 30_000;
/**
 * A run of 10,000 instances or more answers from a read a millisecond per 50
 * instances old at most (a million: 20 s); smaller ones are read each time
 * (a few milliseconds), so a decision made on the page shows at once.
 */
const PICTURE_CACHED_FROM = 10_000;
const PICTURE_MS_PER_INSTANCE = 1 / 50;
const PICTURES_KEPT = 200;

/**
 * Answers from a recent read: every open dashboard refreshes every 3 s, and
 * a graph or timeline counts every instance of the run (a million-instance
 * run's is a scan of a million rows), so one read serves them all for a
 * while, longer for bigger runs. Errors are not kept.
 */
class RecentReads<T> {
  private readonly entries = new Map<number, { until: number; value: Promise<T> }>();

  get(key: number, read: () => Promise<T>, freshFor: (value: T) => number): Promise<T> {
    const hit = this.entries.get(key);
    if (hit && Date.now() < hit.until) return hit.value;
    const value = read();
    // While the read runs, asking again shares it.
    const entry = { until: Infinity, value };
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (this.entries.size > PICTURES_KEPT) this.entries.delete(this.entries.keys().next().value!);
    value.then(
      (v) => (entry.until = Date.now() + freshFor(v)),
      () => this.entries.get(key) === entry && this.entries.delete(key),
    );
    return value;
  }
}

const freshFor = (instances: number) =>
  instances < PICTURE_CACHED_FROM ? 0 : Math.round(instances * PICTURE_MS_PER_INSTANCE);

/**
 * What the dashboard draws (CONTRACT 5.10) that no other call serves in a
 * fitting shape: a run's DAG with scattered groups as one node each, a
 * timeline of its instances, the QA queue oldest first, runs finished per
 * hour. Read-only, for every role.
 */
@ApiTags('operations')
@Controller('api/v1')
export class DashboardDataController {
  constructor(@Inject(DashboardReads) private readonly reads: DashboardReads) {}

  /** Counting a day of finished runs reads an index range: one count per 30 s serves every open dashboard. */
  private hourlyCache: { at: number; value: Promise<unknown> } | null = null;
  private readonly graphs = new RecentReads<Awaited<ReturnType<DashboardReads['graph']>>>();
  private readonly timelines = new RecentReads<Awaited<ReturnType<DashboardReads['timeline']>>>();

  /** `{runId, state, nodes: [{name, needs, scatter, gate, approvers, prompt, instances, counts, ...}]}`. */
  @ApiOp({
    summary: "A run's DAG as the dashboard draws it",
    description:
      'A scattered job is one node with its instances counted by state. A run of 10,000 instances or more may answer from a read up to a millisecond per 50 instances old.',
    path: { id: RUN_ID },
    responses: { 200: 'RunGraph' },
  })
  @Get('runs/:id/graph')
  @RequireRole('viewer')
  graph(@Param('id', new PositiveInt('id')) id: number) {
    return this.graphs.get(
      id,
      () => this.reads.graph(id),
      (g) => freshFor(g.nodes.reduce((n, node) => n + node.instances, 0)),
    );
  }

  /** `{runId, groups: [{name, instances, sampled, startedAt, finishedAt, bars: [...]}]}`. */
  @ApiOp({
    summary: "A timeline of a run's job instances",
    description:
      'By job, in DAG order; a large group is sampled (`sampled: true`). Cached like the graph.',
    path: { id: RUN_ID },
    responses: { 200: 'RunTimeline' },
  })
  @Get('runs/:id/timeline')
  @RequireRole('viewer')
  timeline(@Param('id', new PositiveInt('id')) id: number) {
    return this.timelines.get(
      id,
      () => this.reads.timeline(id),
      (t) => freshFor(t.groups.reduce((n, g) => n + g.instances, 0)),
    );
  }

  /** `{total, items: [{id, workflow, subject, version, finishedAt, ageSeconds}]}`, longest waiting first. */
  @ApiOp({
    summary: 'The runs waiting for QA, longest waiting first',
    query: { limit: LIMIT(500, 50) },
    responses: { 200: 'QaQueue' },
  })
  @Get('overview/qa-queue')
  @RequireRole('viewer')
  qaQueue(@Query('limit', boundedInt('limit', 1, 500, 50)) limit: number) {
    return this.reads.qaQueue(limit);
  }

  /** `{hours: [{hour, finished, complete, failed, cancelled}]}`: 24 hours, this one last. */
  @ApiOp({
    summary: 'Runs finished per hour: the last 24 hours, this one last',
    description: 'Counted at most once every 30 s.',
    responses: { 200: 'RunsPerHour' },
  })
  @Get('overview/hourly')
  @RequireRole('viewer')
  hourly() {
    if (!this.hourlyCache || Date.now() - this.hourlyCache.at > HOURLY_FRESH_MS) {
      const value = this.reads.hourly();
      this.hourlyCache = { at: Date.now(), value };
      value.catch(() => (this.hourlyCache = null)); // an error is not kept
    }
    return this.hourlyCache.value;
  }
}
