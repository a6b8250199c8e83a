import { Global, Module } from '@nestjs/common';
import { WFS_CONFIG } from '@wfs/config';
import type { WfsConfig } from '@wfs/config';
import { ARCHIVE } from '@wfs/archive';
import type { Archive } from '@wfs/archive';
import { JobLifecycle } from '@wfs/runs';
import { Roots } from '@wfs/storage';
import { WorkflowCatalog } from '@wfs/workflows';
import { BUILTIN_NAMES } from './builtins';
import { ExecuteJob } from './execute-job';
import { LocalExecutor } from './local-executor';
import { ToolMap } from './tools';

export const EXECUTOR = Symbol('EXECUTOR');

@Global()
@Module({
  providers: [
    { provide: EXECUTOR, useFactory: () => new LocalExecutor() },
    {
      provide: ToolMap,
      inject: [WFS_CONFIG, WorkflowCatalog],
      useFactory: (c: WfsConfig, catalog: WorkflowCatalog) => {
        const tools = new ToolMap(c);
        tools.check(catalog.list(), BUILTIN_NAMES);
        return tools;
      },
    },
    {
      provide: ExecuteJob,
      inject: [JobLifecycle, EXECUTOR, ToolMap, Roots, WFS_CONFIG, ARCHIVE],
      useFactory: (
        l: JobLifecycle,
        e: LocalExecutor,
        t: ToolMap,
        r: Roots,
        c: WfsConfig,
        a: Archive,
      ) =>
        new ExecuteJob(
          l,
          e,
          t,
          r,
          { maxJobTimeoutSeconds: c.maxJobTimeoutSeconds, hostname: c.hostname },
          a,
        ),
    },
  ],
  exports: [EXECUTOR, ToolMap, ExecuteJob],
})
export class ExecutionModule {}
