import { Global, Module } from '@nestjs/common';
import { WFS_CONFIG } from '@wfs/config';
import type { WfsConfig } from '@wfs/config';
import { Database } from '@wfs/persistence';
import { WorkflowCatalog } from './workflow-catalog';

@Global()
@Module({
  providers: [
    {
      provide: WorkflowCatalog,
      inject: [Database, WFS_CONFIG],
      useFactory: (db: Database, config: WfsConfig) =>
        WorkflowCatalog.load(db, config.workflowsDir),
    },
  ],
  exports: [WorkflowCatalog],
})
export class WorkflowsModule {}
