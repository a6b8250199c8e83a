import { Global, Module } from '@nestjs/common';
import { getRepositoryToken, TypeOrmModule } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { Database, WorkflowPauseEntity } from '@wfs/persistence';
import { WorkflowCatalog } from '@wfs/workflows';
import { SchedulingControls } from './controls';

/** What the API needs of scheduling: the controls (limits, pauses, workers). The worker starts the Scheduler itself. */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([WorkflowPauseEntity])],
  providers: [
    {
      provide: SchedulingControls,
      inject: [Database, WorkflowCatalog, getRepositoryToken(WorkflowPauseEntity)],
      useFactory: (db: Database, c: WorkflowCatalog, pauses: Repository<WorkflowPauseEntity>) =>
        new SchedulingControls(db, c, pauses),
    },
  ],
  exports: [SchedulingControls],
})
export class SchedulingModule {}
