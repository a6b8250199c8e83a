import { invalid, planRun, transitionRun, WorkflowDefinition } from '@wfs/domain';
import { appendEvents } from '@wfs/events';
import type { Tx } from '@wfs/persistence';
import type { JobKey } from '@wfs/dispatch';
import { RunRow, snapshotOf, updateRun } from './run-model';

/**
 * Submits a locked `created` run: checks its required files, writes its whole
 * job plan (one row per instance, in bulk) and releases the root jobs.
 * Returns the new row and the job instances to put on the queue after commit.
 */
export async function submitLocked(
  tx: Tx,
  run: RunRow,
  def: WorkflowDefinition,
  maxJobsPerRun: number,
): Promise<{ run: RunRow; ready: JobKey[] }> {
  const runId = Number(run.id);
  transitionRun(runId, run.state, 'submit');
  const files = await tx.query<{ name: string }>('SELECT name FROM run_files WHERE run_id = $1', [
    runId,
  ]);
  const have = new Set(files.map((f) => f.name));
  const missing = def.inputs.filter((i) => i.required && !have.has(i.name)).map((i) => i.name);
  if (missing.length > 0) {
    throw invalid(
      'MISSING_INPUT',
      `Run ${runId} needs the file(s) ${missing.join(', ')} before it can be submitted.`,
      {
        fields: Object.fromEntries(missing.map((m) => [m, 'is required'])),
      },
    );
  }
  const groups = planRun(def.jobs, run.parameters, maxJobsPerRun);
  await tx.query(
    `INSERT INTO job_groups (run_id, name, position, needs, instances, released)
     SELECT $1, n, p, ARRAY(SELECT jsonb_array_elements_text(d)), i, r
     FROM unnest($2::text[], $3::int[], $4::jsonb[], $5::int[], $6::bool[]) AS x(n, p, d, i, r)`,
    [
      runId,
      groups.map((g) => g.name),
      groups.map((g) => g.position),
      groups.map((g) => JSON.stringify(g.needs)),
      groups.map((g) => g.items?.length ?? 1),
      groups.map((g) => g.needs.length === 0),
    ],
  );
  const names: string[] = [];
  const indexes: number[] = [];
  const positions: number[] = [];
  const items: Array<string | null> = [];
  const released: boolean[] = [];
  const ready: JobKey[] = [];
  for (const g of groups) {
    const instances = g.items ?? [null];
    instances.forEach((item, index) => {
      names.push(g.name);
      indexes.push(index);
      positions.push(g.position);
      items.push(item ? JSON.stringify(item) : null);
      released.push(g.needs.length === 0);
      if (g.needs.length === 0) ready.push({ runId, name: g.name, index, attempt: 1 });
    });
  }
  await tx.query(
    `INSERT INTO jobs (run_id, name, idx, position, item, dispatched_at)
     SELECT $1, n, i, p, it, CASE WHEN r THEN now() END
     FROM unnest($2::text[], $3::int[], $4::int[], $5::jsonb[], $6::bool[]) AS x(n, i, p, it, r)`,
    [runId, names, indexes, positions, items, released],
  );
  const updated = await updateRun(tx, runId, { state: 'submitted' });
  await appendEvents(tx, snapshotOf(updated), [{ type: 'submitted' }]);
  return { run: updated, ready };
}
