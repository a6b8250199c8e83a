import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { RequireRole } from '@wfs/auth';
import { DashboardReads } from './dashboard-reads';
import { boundedInt, PositiveInt } from './validation';

const HOURLY_FRESH_MS = 30_000;

/**
 * What the dashboard draws (CONTRACT 5.10) that no other call serves in a
 * fitting shape: a run's DAG with scattered groups as one node each, a
 * timeline of its instances, the QA queue oldest first, runs finished per
 * hour. Read-only, for every role.
 */
@ApiTags('operations')
@ApiBearerAuth()
@Controller('api/v1')
export class DashboardDataController {
  constructor(@Inject(DashboardReads) private readonly reads: DashboardReads) {}

  /** Counting a day of finished runs reads an index range: one count per 30 s serves every open dashboard. */
  private hourlyCache: { at: number; value: Promise<unknown> } | null = null;

  /** `{runId, state, nodes: [{name, needs, scatter, gate, approvers, prompt, instances, counts, ...}]}`. */
  @Get('runs/:id/graph')
  @RequireRole('viewer')
  graph(@Param('id', new PositiveInt('id')) id: number) {
    return this.reads.graph(id);
  }

  /** `{runId, groups: [{name, instances, sampled, startedAt, finishedAt, bars: [...]}]}`. */
  @Get('runs/:id/timeline')
  @RequireRole('viewer')
  timeline(@Param('id', new PositiveInt('id')) id: number) {
    return this.reads.timeline(id);
  }

  /** `{total, items: [{id, workflow, subject, version, finishedAt, ageSeconds}]}`, longest waiting first. */
  @Get('overview/qa-queue')
  @RequireRole('viewer')
  qaQueue(@Query('limit', boundedInt('limit', 1, 500, 50)) limit: number) {
    return this.reads.qaQueue(limit);
  }

  /** `{hours: [{hour, finished, complete, failed, cancelled}]}`: 24 hours, this one last. */
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
