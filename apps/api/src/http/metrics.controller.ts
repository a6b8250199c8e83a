import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { Public } from '@wfs/auth';
import { registerServiceMetrics } from '@wfs/metrics';
import { SchedulingControls } from '@wfs/scheduling';
import { Database } from '@wfs/persistence';
import { ApiOp } from './api-op';
import { RequestLog } from './request-log';

/** Prometheus text (docs/operations.md, "Metrics and alerts"): the process, the service from Postgres, this API's HTTP calls. */
@ApiTags('operations')
@Controller('metrics')
export class MetricsController {
  private readonly registry = new Registry();

  constructor(
    @Inject(Database) db: Database,
    @Inject(SchedulingControls) scheduling: SchedulingControls,
    @Inject(RequestLog) requests: RequestLog,
  ) {
    collectDefaultMetrics({ register: this.registry, prefix: 'wfs_api_' });
    registerServiceMetrics(this.registry, db, scheduling);
    this.registry.registerMetric(requests.duration);
  }

  @ApiOp({ summary: 'Prometheus metrics', responses: { 200: 'metrics' } })
  @Get()
  @Public()
  async metrics(@Res() res: Response) {
    res.type(this.registry.contentType).send(await this.registry.metrics());
  }
}
