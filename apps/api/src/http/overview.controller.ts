import { Controller, Get, Inject } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { RequireRole } from '@wfs/auth';
import { Database } from '@wfs/persistence';
import { readOverview } from '@wfs/runs';
import { SchedulingControls } from '@wfs/scheduling';
import { ApiOp } from './api-op';

const FRESH_MS = 2000;

/** The dashboard's summary: runs by state, what waits for QA, the queue, the outbox, the workers. */
@ApiTags('operations')
@Controller('api/v1/overview')
export class OverviewController {
  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(SchedulingControls) private readonly scheduling: SchedulingControls,
  ) {}

  /** Counting runs by state reads the whole table: one count per 2 s serves every open dashboard. */
  private cached: { at: number; value: Promise<unknown> } | null = null;

  @ApiOp({
    summary: "The dashboard's summary: runs by state, QA, queue, outbox, workers",
    responses: { 200: 'Overview' },
  })
  @Get()
  @RequireRole('viewer')
  overview() {
    if (!this.cached || Date.now() - this.cached.at > FRESH_MS) {
      const value = this.read();
      this.cached = { at: Date.now(), value };
      value.catch(() => (this.cached = null)); // an error is not kept
    }
    return this.cached.value;
  }

  private async read() {
    const [overview, queue] = await Promise.all([
      readOverview(this.db),
      this.scheduling.queueCounts(),
    ]);
    return { ...overview, queue };
  }
}
