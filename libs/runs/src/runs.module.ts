import { randomBytes } from 'node:crypto';
import { Global, Module } from '@nestjs/common';
import { WFS_CONFIG } from '@wfs/config';
import type { WfsConfig } from '@wfs/config';
import { Database } from '@wfs/persistence';
import { Roots } from '@wfs/storage';
import { WorkflowCatalog } from '@wfs/workflows';
import { CancelRun } from './cancel-run';
import { CreateRun } from './create-run';
import { DecideGate } from './decide-gate';
import { HoldJobs } from './hold-job';
import { SetPriority } from './set-priority';
import { JobLifecycle } from './job-lifecycle';
import { NewRuns } from './new-run';
import { RunQueries } from './run-queries';
import { SubmitRun } from './submit';
import { UploadFile } from './upload-file';

@Global()
@Module({
  providers: [
    {
      provide: RunQueries,
      inject: [Database, WorkflowCatalog],
      useFactory: (db: Database, c: WorkflowCatalog) => new RunQueries(db, c),
    },
    {
      provide: NewRuns,
      inject: [Database, Roots],
      useFactory: (db: Database, r: Roots) => new NewRuns(db, r),
    },
    {
      provide: CreateRun,
      inject: [NewRuns, WorkflowCatalog, Roots, WFS_CONFIG],
      useFactory: (n: NewRuns, c: WorkflowCatalog, r: Roots, cfg: WfsConfig) =>
        new CreateRun(n, c, r, cfg.maxJobsPerRun),
    },
    {
      provide: UploadFile,
      inject: [Database, RunQueries, WFS_CONFIG],
      useFactory: (db: Database, q: RunQueries, cfg: WfsConfig) =>
        new UploadFile(db, q, { maxUploadBytes: cfg.maxUploadBytes }),
    },
    {
      provide: SubmitRun,
      inject: [Database, WorkflowCatalog, WFS_CONFIG],
      useFactory: (db: Database, c: WorkflowCatalog, cfg: WfsConfig) =>
        new SubmitRun(db, c, { maxJobsPerRun: cfg.maxJobsPerRun }),
    },
    {
      provide: CancelRun,
      inject: [Database, WorkflowCatalog],
      useFactory: (db: Database, c: WorkflowCatalog) => new CancelRun(db, c),
    },
    { provide: SetPriority, inject: [Database], useFactory: (db: Database) => new SetPriority(db) },
    {
      provide: DecideGate,
      inject: [Database, WorkflowCatalog],
      useFactory: (db: Database, c: WorkflowCatalog) => new DecideGate(db, c),
    },
    {
      provide: HoldJobs,
      inject: [Database, WorkflowCatalog],
      useFactory: (db: Database, c: WorkflowCatalog) => new HoldJobs(db, c),
    },
    {
      provide: JobLifecycle,
      inject: [Database, WorkflowCatalog, WFS_CONFIG],
      useFactory: (db: Database, c: WorkflowCatalog, cfg: WfsConfig) =>
        new JobLifecycle(
          db,
          c,
          cfg.hostname,
          `${cfg.hostname}:${process.pid}:${randomBytes(3).toString('hex')}`,
          cfg.executor.kind === 'local' ? null : cfg.executor.kind,
          cfg.maxJobsPerRun,
        ),
    },
  ],
  exports: [
    RunQueries,
    NewRuns,
    CreateRun,
    UploadFile,
    SubmitRun,
    CancelRun,
    HoldJobs,
    DecideGate,
    SetPriority,
    JobLifecycle,
  ],
})
export class RunsModule {}
