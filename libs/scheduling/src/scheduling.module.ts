import { Global, Module } from '@nestjs/common';
import { Database } from '@wfs/persistence';
import { WorkflowCatalog } from '@wfs/workflows';
import { SchedulingControls } from './controls';

/** What the API needs of scheduling: the controls (limits, pauses, workers). The worker starts the Scheduler itself. */
@Global()
@Module({
  providers: [
    {
      provide: SchedulingControls,
      inject: [Database, WorkflowCatalog],
      useFactory: (db: Database, c: WorkflowCatalog) => new SchedulingControls(db, c),
    },
  ],
  exports: [SchedulingControls],
})
export class SchedulingModule {}
