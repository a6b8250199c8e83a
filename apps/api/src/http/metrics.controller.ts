import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { Public } from '@wfs/auth';
import { SchedulingControls } from '@wfs/scheduling';
import { Database } from '@wfs/persistence';
import { ApiOp } from './api-op';

/** Prometheus text: runs by state, jobs waiting on the queue, events not yet published. */
@ApiTags('operations')
@Controller('metrics')
export class MetricsController {
  private readonly registry = new Registry();

  constructor(
    @Inject(Database) db: Database,
    @Inject(SchedulingControls) scheduling: SchedulingControls,
  ) {
    collectDefaultMetrics({ register: this.registry, prefix: 'wfs_api_' });
    new Gauge({
      name: 'wfs_runs',
      help: 'Runs by state',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        this.reset();
        const rows = await db.query<{ state: string; n: string }>(
          'SELECT state, count(*) AS n FROM runs GROUP BY state',
        );
        for (const r of rows) this.set({ state: r.state }, Number(r.n));
      },
    });
    new Gauge({
      name: 'wfs_queue_jobs',
      help: 'Job instances by scheduling state: waiting (ready), delayed (retry backoff), placed, active, held',
      labelNames: ['status'],
      registers: [this.registry],
      async collect() {
        const counts = await scheduling.queueCounts();
        for (const [status, n] of Object.entries(counts)) this.set({ status }, n);
      },
    });
    new Gauge({
      name: 'wfs_events_unpublished',
      help: 'Events in the outbox not yet confirmed by the broker',
      registers: [this.registry],
      async collect() {
        const [row] = await db.query<{ n: string }>(
          'SELECT count(*) AS n FROM events WHERE published_at IS NULL',
        );
        this.set(Number(row?.n ?? 0));
      },
    });
  }

  @ApiOp({ summary: 'Prometheus metrics', responses: { 200: 'metrics' } })
  @Get()
  @Public()
  async metrics(@Res() res: Response) {
    res.type(this.registry.contentType).send(await this.registry.metrics());
  }
}
