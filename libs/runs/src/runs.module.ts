import { randomBytes } from 'node:crypto';
import { Global, Logger, Module } from '@nestjs/common';
import { WFS_CONFIG } from '@wfs/config';
import type { WfsConfig } from '@wfs/config';
import { Database } from '@wfs/persistence';
import { Dispatcher } from '@wfs/dispatch';
import { Roots } from '@wfs/storage';
import { WorkflowCatalog } from '@wfs/workflows';
import { CreateRun } from './create-run';
import { JobLifecycle } from './job-lifecycle';
import { RunCommands } from './run-commands';
import { RunQueries } from './run-queries';

@Global()
@Module({
  providers: [
    { provide: RunQueries, inject: [Database], useFactory: (db: Database) => new RunQueries(db) },
    {
      provide: CreateRun,
      inject: [Database, WorkflowCatalog, Roots, Dispatcher, WFS_CONFIG],
      useFactory: (db: Database, c: WorkflowCatalog, r: Roots, d: Dispatcher, cfg: WfsConfig) =>
        new CreateRun(db, c, r, d, cfg.maxJobsPerRun),
    },
    {
      provide: RunCommands,
      inject: [Database, WorkflowCatalog, Dispatcher, RunQueries, WFS_CONFIG],
      useFactory: (
        db: Database,
        c: WorkflowCatalog,
        d: Dispatcher,
        q: RunQueries,
        cfg: WfsConfig,
      ) =>
        new RunCommands(db, c, d, q, {
          maxUploadBytes: cfg.maxUploadBytes,
          maxJobsPerRun: cfg.maxJobsPerRun,
        }),
    },
    {
      provide: JobLifecycle,
      inject: [Database, WorkflowCatalog, Dispatcher, WFS_CONFIG],
      useFactory: (db: Database, c: WorkflowCatalog, d: Dispatcher, cfg: WfsConfig) =>
        new JobLifecycle(
          db,
          c,
          d,
          cfg.hostname,
          `${cfg.hostname}:${process.pid}:${randomBytes(3).toString('hex')}`,
          (e) =>
            new Logger('jobs').warn(
              `queueing ready jobs failed (${e.message}); the reconciler re-sends them`,
            ),
        ),
    },
  ],
  exports: [RunQueries, CreateRun, RunCommands, JobLifecycle],
})
export class RunsModule {}
