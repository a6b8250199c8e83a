import { Global, Module } from '@nestjs/common';
import { ARCHIVE } from '@wfs/archive';
import type { Archive } from '@wfs/archive';
import { WFS_CONFIG } from '@wfs/config';
import type { WfsConfig } from '@wfs/config';
import { Database } from '@wfs/persistence';
import { NewRuns, RunQueries } from '@wfs/runs';
import { Roots } from '@wfs/storage';
import { WorkflowCatalog } from '@wfs/workflows';
import { CleanupRun } from './cleanup-run';
import { IngestRun } from './ingest-run';
import { RejectRun } from './reject-run';
import { RerunRun } from './rerun-run';
import { ResumeRun } from './resume-run';
import { SetQa } from './set-qa';

/** The data analysts' operations: one use case each. */
@Global()
@Module({
  providers: [
    { provide: SetQa, inject: [Database], useFactory: (db: Database) => new SetQa(db) },
    {
      provide: RerunRun,
      inject: [WorkflowCatalog, NewRuns, WFS_CONFIG, Roots],
      useFactory: (c: WorkflowCatalog, n: NewRuns, cfg: WfsConfig, r: Roots) =>
        new RerunRun(c, n, cfg.maxJobsPerRun, r),
    },
    {
      provide: IngestRun,
      inject: [WorkflowCatalog, NewRuns, WFS_CONFIG],
      useFactory: (c: WorkflowCatalog, n: NewRuns, cfg: WfsConfig) =>
        new IngestRun(c, n, cfg.maxJobsPerRun),
    },
    {
      provide: RejectRun,
      inject: [Database, ARCHIVE, Roots, RunQueries],
      useFactory: (db: Database, a: Archive, r: Roots, q: RunQueries) => new RejectRun(db, a, r, q),
    },
    {
      provide: ResumeRun,
      inject: [Database, WorkflowCatalog],
      useFactory: (db: Database, c: WorkflowCatalog) => new ResumeRun(db, c),
    },
    {
      provide: CleanupRun,
      inject: [Database, ARCHIVE, Roots, WorkflowCatalog, RunQueries],
      useFactory: (db: Database, a: Archive, r: Roots, c: WorkflowCatalog, q: RunQueries) =>
        new CleanupRun(db, a, r, c, q),
    },
  ],
  exports: [SetQa, RerunRun, IngestRun, RejectRun, CleanupRun, ResumeRun],
})
export class OperationsModule {}
