import { randomBytes } from 'node:crypto';
import { Global, Logger, Module } from '@nestjs/common';
import { WFS_CONFIG } from '@wfs/config';
import type { WfsConfig } from '@wfs/config';
import { Database } from '@wfs/persistence';
import { Dispatcher } from '@wfs/dispatch';
import { Roots } from '@wfs/storage';
import { WorkflowCatalog } from '@wfs/workflows';
import { CancelRun } from './cancel-run';
import { CreateRun } from './create-run';
import { JobLifecycle } from './job-lifecycle';
import { NewRuns } from './new-run';
import { RunQueries } from './run-queries';
import { SubmitRun } from './submit';
import { UploadFile } from './upload-file';

@Global()
@Module({
  providers: [
    { provide: RunQueries, inject: [Database], useFactory: (db: Database) => new RunQueries(db) },
    {
      provide: NewRuns,
      inject: [Database, Roots],
      useFactory: (db: Database, r: Roots) => new NewRuns(db, r),
    },
    {
      provide: CreateRun,
      inject: [NewRuns, WorkflowCatalog, Roots, Dispatcher, WFS_CONFIG],
      useFactory: (n: NewRuns, c: WorkflowCatalog, r: Roots, d: Dispatcher, cfg: WfsConfig) =>
        new CreateRun(n, c, r, d, cfg.maxJobsPerRun),
    },
    {
      provide: UploadFile,
      inject: [Database, RunQueries, WFS_CONFIG],
      useFactory: (db: Database, q: RunQueries, cfg: WfsConfig) =>
        new UploadFile(db, q, { maxUploadBytes: cfg.maxUploadBytes }),
    },
    {
      provide: SubmitRun,
      inject: [Database, WorkflowCatalog, Dispatcher, WFS_CONFIG],
      useFactory: (db: Database, c: WorkflowCatalog, d: Dispatcher, cfg: WfsConfig) =>
        new SubmitRun(db, c, d, { maxJobsPerRun: cfg.maxJobsPerRun }),
    },
    {
      provide: CancelRun,
      inject: [Database, WorkflowCatalog],
      useFactory: (db: Database, c: WorkflowCatalog) => new CancelRun(db, c),
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
  exports: [RunQueries, NewRuns, CreateRun, UploadFile, SubmitRun, CancelRun, JobLifecycle],
})
export class RunsModule {}
