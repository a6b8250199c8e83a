import { JobDefinition } from './definition';
import { PlannedGroup, readyGroups } from './dag';
import { invalid } from './errors';
import { transitionJob } from './job-states';
import { JobState } from './states';

/** The jobs `name` transitively needs, in definition order (itself not among them). */
export function ancestorsOf(
  jobs: readonly Pick<JobDefinition, 'name' | 'needs'>[],
  name: string,
): string[] {
  const byName = new Map(jobs.map((j) => [j.name, j]));
  const found = new Set<string>();
  const visit = (n: string) => {
    for (const need of byName.get(n)?.needs ?? []) {
      if (found.has(need)) continue;
      found.add(need);
      visit(need);
    }
  };
  visit(name);
  return jobs.filter((j) => found.has(j.name)).map((j) => j.name);
}

/**
 * What a re-run from `fromJob` reuses of its source run: the jobs `fromJob`
 * transitively needs (every instance of each). 400 when `fromJob` is not a
 * job of the workflow (naming the jobs it has) or a reused job declares no
 * `outputs` (there would be nothing to carry over).
 */
export function reusedJobs(
  jobs: readonly Pick<JobDefinition, 'name' | 'needs' | 'outputs'>[],
  fromJob: string,
  workflow: string,
): string[] {
  const names = jobs.map((j) => j.name);
  if (!names.includes(fromJob)) {
    throw invalid('UNKNOWN_JOB', `${fromJob} is not a job of ${workflow} (${names.join(', ')}).`, {
      fields: { fromJob: `is not a job of ${workflow}` },
      jobs: names,
    });
  }
  const reused = ancestorsOf(jobs, fromJob);
  const bare = jobs.filter((j) => reused.includes(j.name) && j.outputs.length === 0);
  if (bare.length > 0) {
    const list = bare.map((j) => j.name).join(', ');
    throw invalid(
      'NO_OUTPUTS',
      `Cannot re-run ${workflow} from ${fromJob}: ${list} declares no outputs to reuse.`,
      {
        fields: { fromJob: `needs ${list}, which declares no outputs` },
        jobs: bare.map((j) => j.name),
      },
    );
  }
  return reused;
}

/** How a planned group starts: its instances' first state and reason, its count and release. */
export interface GroupStart {
  state: JobState;
  statusReason: string | null;
  /** Instances already done (all of a reused group). */
  completed: number;
  released: boolean;
}

/**
 * How each planned group starts. Without reuse: idle, the roots released.
 * With reuse: the reused groups' instances are `skipped` (`reused from run
 * N`) and count as done for their dependents, exactly as completed ones do
 * (the group's `completed` is its instance count), so the groups whose needs
 * are all reused are released at once.
 */
export function groupStarts(
  runId: number,
  groups: readonly PlannedGroup[],
  reuse: { fromRunId: number; jobs: readonly string[] } | null = null,
): Map<string, GroupStart> {
  const reused = new Set(reuse?.jobs ?? []);
  const ready = new Set(readyGroups(groups, reused, reused));
  return new Map(
    groups.map((g): [string, GroupStart] => {
      const count = g.items?.length ?? 1;
      if (reused.has(g.name)) {
        const state = transitionJob({ runId, name: g.name, index: 0 }, 'idle', 'reuse');
        return [
          g.name,
          {
            state,
            statusReason: `reused from run ${reuse?.fromRunId}`,
            completed: count,
            released: true,
          },
        ];
      }
      return [
        g.name,
        { state: 'idle', statusReason: null, completed: 0, released: ready.has(g.name) },
      ];
    }),
  );
}
