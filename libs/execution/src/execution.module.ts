import { Global, Logger, Module } from '@nestjs/common';
import { ConfigError, WFS_CONFIG } from '@wfs/config';
import type { WfsConfig } from '@wfs/config';
import { ARCHIVE } from '@wfs/archive';
import type { Archive } from '@wfs/archive';
import { JobLifecycle } from '@wfs/runs';
import { Roots } from '@wfs/storage';
import { WorkflowCatalog } from '@wfs/workflows';
import { BatchExecutor } from './batch/batch-executor';
import { BatchSystem } from './batch/batch-system';
import { HtcondorBatch, parseSubmitExtra } from './batch/htcondor';
import { SlurmBatch } from './batch/slurm';
import { BUILTIN_NAMES } from './builtins';
import { Executor } from './executor';
import { ExecuteJob } from './execute-job';
import { LocalExecutor } from './local-executor';
import { ToolMap } from './tools';

export const EXECUTOR = Symbol('EXECUTOR');

const TOOL_ENV_KEYS = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LC_ALL', 'TZ'];

/** The executor WFS_EXECUTOR names: the worker itself, or a submit host for the site's cluster. */
function makeExecutor(c: WfsConfig, lifecycle: JobLifecycle): Executor {
  const e = c.executor;
  if (e.kind === 'local') return new LocalExecutor();
  // The tools get a small environment: never the service's own secrets (sbatch --export=ALL hands
  // its environment to slurmctld), only what finding and running them needs, and the system's own
  // variables (SLURM_CONF, CONDOR_CONFIG).
  const env: Record<string, string> = { ...e.toolEnv };
  for (const k of TOOL_ENV_KEYS) if (process.env[k]) env[k] = process.env[k] as string;
  let system: BatchSystem;
  if (e.kind === 'slurm') {
    system = new SlurmBatch({
      bin: e.bin,
      partition: e.partition,
      account: e.account,
      extra: e.extra,
      env,
    });
  } else {
    let submitExtra: Array<[string, string]>;
    try {
      submitExtra = parseSubmitExtra(e.submitExtra);
    } catch (err) {
      const problem = (err as Error).message.replace(/^WFS_CONDOR_SUBMIT_EXTRA /, '');
      throw new ConfigError('WFS_CONDOR_SUBMIT_EXTRA', problem);
    }
    system = new HtcondorBatch({ bin: e.bin, submitExtra, env });
  }
  return new BatchExecutor(system, lifecycle, new Logger(e.kind));
}

@Global()
@Module({
  providers: [
    { provide: EXECUTOR, inject: [WFS_CONFIG, JobLifecycle], useFactory: makeExecutor },
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
      useFactory: (l: JobLifecycle, e: Executor, t: ToolMap, r: Roots, c: WfsConfig, a: Archive) =>
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
