import { Controller, Get, Inject } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { RequireRole } from '@wfs/auth';
import { Dispatcher } from '@wfs/dispatch';
import { Database } from '@wfs/persistence';
import { readOverview } from '@wfs/runs';

/** The dashboard's summary: runs by state, what waits for QA, the queue, the outbox, the workers. */
@ApiTags('operations')
@Controller('api/v1/overview')
export class OverviewController {
  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(Dispatcher) private readonly dispatcher: Dispatcher,
  ) {}

  @Get()
  @RequireRole('viewer')
  async overview() {
    const [overview, queue] = await Promise.all([
      readOverview(this.db),
      this.dispatcher.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized'),
    ]);
    return { ...overview, queue };
  }
}
