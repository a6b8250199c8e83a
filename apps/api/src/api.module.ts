import { DynamicModule, Module } from '@nestjs/common';
import { MulterModule } from '@nestjs/platform-express';
import { ArchiveModule } from '@wfs/archive';
import { AuditModule } from '@wfs/audit';
import { AuthModule } from '@wfs/auth';
import { ConfigModule, WfsConfig } from '@wfs/config';
import { DispatchModule } from '@wfs/dispatch';
import { OperationsModule } from '@wfs/operations';
import { PersistenceModule } from '@wfs/persistence';
import { RunsModule } from '@wfs/runs';
import { SchedulingModule } from '@wfs/scheduling';
import { StorageModule } from '@wfs/storage';
import { WorkflowsModule } from '@wfs/workflows';
import { ArchiveController } from './http/archive.controller';
import { AuditController } from './http/audit.controller';
import { HttpDrain } from './http/drain';
import { RequestLog } from './http/request-log';
import { EventsController } from './http/events.controller';
import { EventsHub } from './http/events-hub';
import { FilesController } from './http/files.controller';
import { HealthController } from './http/health.controller';
import { MetricsController } from './http/metrics.controller';
import { OverviewController } from './http/overview.controller';
import { DashboardController } from './http/dashboard.controller';
import { DashboardDataController } from './http/dashboard-data.controller';
import { DashboardReads } from './http/dashboard-reads';
import { MeController } from './http/me.controller';
import { OperationsController } from './http/operations.controller';
import { IngestionsController } from './http/ingestions.controller';
import { RunsController } from './http/runs.controller';
import { GatesController } from './http/gates.controller';
import { SchedulingController } from './http/scheduling.controller';
import { TokensController } from './http/tokens.controller';
import { WorkflowsController } from './http/workflows.controller';

/** Every controller of the API (the OpenAPI document reads their routes' roles too). */
export const API_CONTROLLERS = [
  WorkflowsController,
  RunsController,
  SchedulingController,
  GatesController,
  OperationsController,
  IngestionsController,
  ArchiveController,
  FilesController,
  EventsController,
  TokensController,
  AuditController,
  MeController,
  HealthController,
  MetricsController,
  OverviewController,
  DashboardController,
  DashboardDataController,
];

/** The API role: REST, SSE, health and metrics over the shared libraries. */
@Module({})
export class ApiModule {
  static forRoot(config: WfsConfig): DynamicModule {
    return {
      module: ApiModule,
      imports: [
        ConfigModule.forRoot(config),
        PersistenceModule,
        StorageModule,
        WorkflowsModule,
        DispatchModule,
        RunsModule,
        ArchiveModule,
        OperationsModule,
        SchedulingModule,
        AuthModule,
        AuditModule,
        // Multipart DA operations: files held in memory, each under the upload limit.
        MulterModule.register({
          limits: {
            fileSize: config.maxUploadBytes,
            files: 10,
            fields: 20,
            fieldSize: 1024 * 1024,
          },
        }),
      ],
      controllers: API_CONTROLLERS,
      providers: [
        EventsHub,
        DashboardReads,
        HttpDrain,
        RequestLog,
        { provide: 'MAX_UPLOAD_BYTES', useValue: config.maxUploadBytes },
      ],
    };
  }
}
