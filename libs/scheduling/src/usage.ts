import { addUsage, jobRequests, NO_USAGE, Usage } from '@wfs/domain';
import type { JobDefinition } from '@wfs/domain';
import type { WorkflowCatalog } from '@wfs/workflows';
import type { PlacedRow } from './scheduler-sql';

export interface InUse {
  /** Per worker: the requests of what is placed on it or running there. */
  usage: Map<string, Usage>;
  /** Per named limit. */
  limitUse: Map<string, number>;
  /** Per workflow (its `maxConcurrentJobs`). */
  workflowUse: Map<string, number>;
}

/** The job definition a placed row names (from the run's own recipe, by digest). */
export async function jobOf(
  catalog: WorkflowCatalog,
  digest: string,
  name: string,
): Promise<JobDefinition | undefined> {
  const def = await catalog.getByDigest(digest).catch(() => null);
  return def?.jobs.find((j) => j.name === name);
}

/** What placed and running instances take: resources per worker, limits, workflows. */
export async function inUse(
  catalog: WorkflowCatalog,
  placed: readonly PlacedRow[],
): Promise<InUse> {
  const out: InUse = { usage: new Map(), limitUse: new Map(), workflowUse: new Map() };
  for (const p of placed) {
    const job = await jobOf(catalog, p.workflow_digest, p.name);
    if (!job) continue;
    const r = jobRequests(job);
    let u = out.usage.get(p.worker_id) ?? NO_USAGE;
    for (let i = 0; i < p.n; i++) u = addUsage(u, r);
    out.usage.set(p.worker_id, u);
    for (const l of job.concurrencyLimits ?? [])
      out.limitUse.set(l, (out.limitUse.get(l) ?? 0) + p.n);
    out.workflowUse.set(p.workflow, (out.workflowUse.get(p.workflow) ?? 0) + p.n);
  }
  return out;
}
