import { DynamicModule, Module } from '@nestjs/common';
import { ArchiveModule } from '@wfs/archive';
import { ConfigModule, WfsConfig } from '@wfs/config';
import { DispatchModule } from '@wfs/dispatch';
import { ExecutionModule } from '@wfs/execution';
import { NotificationsModule } from '@wfs/notifications';
import { DurableMetrics } from '@wfs/metrics';
import { Database, PersistenceModule } from '@wfs/persistence';
import { RunsModule } from '@wfs/runs';
import { SchedulingModule } from '@wfs/scheduling';
import { StorageModule } from '@wfs/storage';
import { WorkflowsModule } from '@wfs/workflows';
import { JobConsumerService } from './job-consumer.service';
import { MessagingService } from './messaging.service';
import { SweeperService } from './sweeper.service';

/** The worker role: runs queued jobs. Any number of them, on any host. */
@Module({})
export class WorkerModule {
  static forRoot(config: WfsConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        ConfigModule.forRoot(config),
        PersistenceModule,
        StorageModule,
        WorkflowsModule,
        DispatchModule,
        RunsModule,
        SchedulingModule,
        ArchiveModule,
        ExecutionModule,
        NotificationsModule,
      ],
      providers: [
        JobConsumerService,
        MessagingService,
        SweeperService,
        {
          provide: DurableMetrics,
          inject: [Database],
          useFactory: (db: Database) => new DurableMetrics(db),
        },
      ],
    };
  }
}
