import { Inject, Injectable } from '@nestjs/common';
import { JobDefinition, WorkflowDefinition } from '@wfs/domain';
import { Database } from '@wfs/persistence';
import { RunQueries } from '@wfs/runs';

/**
 * Read-only projections only the dashboard needs (CONTRACT 5.10): a run's
 * DAG with a scattered group folded into one node, a sampled timeline of its
 * instances, the QA queue oldest first, and runs finished per hour. They sit
 * beside their controller rather than in libs/runs because they change
 * nothing and serve one page; each is one or two indexed queries, so a
 * million-instance run costs the page a handful of rows, not a million.
 */

/** A timeline shows at most this many instances of a group; bigger groups are sampled evenly. */
export const TIMELINE_PER_GROUP = 100;

const iso = (v: Date | string | null): string | null =>
  v === null ? null : v instanceof Date ? v.toISOString() : new Date(v).toISOString();

export interface GraphNode {
  name: string;
  stage: string | null;
  needs: string[];
  scatter: boolean;
  gate: boolean;
  /** The roles a gate names as its deciders (null: da and above). */
  approvers: string[] | null;
  prompt: string | null;
  /** Instances planned so far (a dynamic scatter plans them when its needs are done). */
  instances: number;
  planned: boolean;
  /** Instances by state, states with none left out. */
  counts: Record<string, number>;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface TimelineGroup {
  name: string;
  instances: number;
  /** True when `bars` is an even sample of the group's instances rather than all of them. */
  sampled: boolean;
  /** The group's envelope: first start, last finish. */
  startedAt: string | null;
  finishedAt: string | null;
  bars: Array<{
    index: number;
    state: string;
    attempts: number;
    host: string | null;
    startedAt: string | null;
    finishedAt: string | null;
  }>;
}

@Injectable()
export class DashboardReads {
  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(RunQueries) private readonly runs: RunQueries,
  ) {}

  /** The run's definition as it was when the run was made (a later version may differ). */
  private async definition(runId: number): Promise<Map<string, JobDefinition>> {
    const [row] = await this.db.query<{ definition: WorkflowDefinition }>(
      `SELECT d.definition FROM runs r JOIN workflow_definitions d ON d.digest = r.workflow_digest WHERE r.id = $1`,
      [runId],
    );
    return new Map((row?.definition.jobs ?? []).map((j) => [j.name, j]));
  }

  async graph(runId: number): Promise<{ runId: number; state: string; nodes: GraphNode[] }> {
    const run = await this.runs.row(runId);
    const [defs, groups] = await Promise.all([
      this.definition(runId),
      this.db.query<{
        name: string;
        needs: string[];
        instances: number;
        planned: boolean;
        counts: Record<string, number> | null;
        started_at: Date | null;
        finished_at: Date | null;
      }>(
        // A run whose instance rows the retention deleted: what they said then (pruned_summary).
        `SELECT g.name, g.needs, g.instances, g.planned,
                coalesce(c.counts::jsonb, g.pruned_summary->'counts') AS counts,
                coalesce(c.started_at, (g.pruned_summary->>'startedAt')::timestamptz) AS started_at,
                coalesce(c.finished_at, (g.pruned_summary->>'finishedAt')::timestamptz) AS finished_at
           FROM job_groups g
           CROSS JOIN LATERAL (
             SELECT json_object_agg(state, n) AS counts, min(started_at) AS started_at, max(finished_at) AS finished_at
               FROM (SELECT state, count(*)::int AS n, min(started_at) AS started_at, max(finished_at) AS finished_at
                       FROM jobs WHERE run_id = g.run_id AND name = g.name GROUP BY state) s) c
          WHERE g.run_id = $1 ORDER BY g.position`,
        [runId],
      ),
    ]);
    return {
      runId,
      state: (run as { state: string }).state,
      nodes: groups.map((g) => {
        const def = defs.get(g.name);
        const gate = def?.executable === 'builtin:gate';
        return {
          name: g.name,
          stage: def?.stage ?? null,
          needs: g.needs,
          scatter: Boolean(def?.scatter),
          gate,
          approvers: gate ? (def?.approvers ?? null) : null,
          prompt: gate ? (def?.prompt ?? null) : null,
          instances: g.instances,
          planned: g.planned,
          counts: g.counts ?? {},
          startedAt: iso(g.started_at),
          finishedAt: iso(g.finished_at),
        };
      }),
    };
  }

  /**
   * The run's instances' latest attempts (started, finished) per group. A
   * group of more than TIMELINE_PER_GROUP instances shows that many, evenly
   * spaced by index, and its envelope; the rows are read by primary key.
   */
  async timeline(runId: number): Promise<{ runId: number; groups: TimelineGroup[] }> {
    await this.runs.row(runId);
    const groups = await this.db.query<{
      name: string;
      instances: number;
      started_at: Date | null;
      finished_at: Date | null;
    }>(
      `SELECT g.name, g.instances, e.started_at, e.finished_at FROM job_groups g
         CROSS JOIN LATERAL (SELECT min(started_at) AS started_at, max(finished_at) AS finished_at
                               FROM jobs WHERE run_id = g.run_id AND name = g.name) e
        WHERE g.run_id = $1 ORDER BY g.position`,
      [runId],
    );
    const picks = groups.map((g) => sample(g.instances));
    const rows = await this.db.query<{
      name: string;
      idx: number;
      state: string;
      attempts: number;
      host: string | null;
      started_at: Date | null;
      finished_at: Date | null;
    }>(
      `SELECT j.name, j.idx, j.state, j.attempts, j.host, j.started_at, j.finished_at
         FROM unnest($2::text[], $3::int[]) AS p(name, idx)
         JOIN jobs j ON j.run_id = $1 AND j.name = p.name AND j.idx = p.idx
        ORDER BY j.position, j.idx`,
      [runId, groups.flatMap((g, i) => (picks[i] ?? []).map(() => g.name)), picks.flat()],
    );
    return {
      runId,
      groups: groups.map((g, i) => ({
        name: g.name,
        instances: g.instances,
        sampled: (picks[i]?.length ?? 0) < g.instances,
        startedAt: iso(g.started_at),
        finishedAt: iso(g.finished_at),
        bars: rows
          .filter((r) => r.name === g.name)
          .map((r) => ({
            index: r.idx,
            state: r.state,
            attempts: r.attempts,
            host: r.host,
            startedAt: iso(r.started_at),
            finishedAt: iso(r.finished_at),
          })),
      })),
    };
  }

  /** Complete runs whose QA a DA has to set, the longest waiting first. */
  async qaQueue(limit: number) {
    const [items, [count]] = await Promise.all([
      this.db.query<{
        id: string;
        workflow: string;
        subject: string | null;
        version: number;
        finished_at: Date | null;
        age: number;
      }>(
        `SELECT id, workflow, subject, version, finished_at,
                extract(epoch FROM now() - coalesce(finished_at, created_at))::int AS age
           FROM runs WHERE qa_state = 'awaiting' ORDER BY coalesce(finished_at, created_at), id LIMIT $1`,
        [limit],
      ),
      this.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM runs WHERE qa_state = 'awaiting'`,
      ),
    ]);
    return {
      total: count?.n ?? 0,
      items: items.map((r) => ({
        id: Number(r.id),
        workflow: r.workflow,
        subject: r.subject,
        version: r.version,
        finishedAt: iso(r.finished_at),
        ageSeconds: r.age,
      })),
    };
  }

  /** Runs that finished (complete, failed, cancelled) in each of the last 24 hours, this one so far last. */
  async hourly() {
    const rows = await this.db.query<{
      hour: Date;
      complete: number;
      failed: number;
      cancelled: number;
    }>(
      `SELECT h.hour,
              count(r.id) FILTER (WHERE r.state = 'complete')::int AS complete,
              count(r.id) FILTER (WHERE r.state = 'failed')::int AS failed,
              count(r.id) FILTER (WHERE r.state = 'cancelled')::int AS cancelled
         FROM generate_series(date_trunc('hour', now()) - interval '23 hours', date_trunc('hour', now()), interval '1 hour') AS h(hour)
         LEFT JOIN runs r ON r.finished_at >= h.hour AND r.finished_at < h.hour + interval '1 hour'
        GROUP BY h.hour ORDER BY h.hour`,
    );
    return {
      hours: rows.map((r) => ({
        hour: iso(r.hour),
        finished: r.complete + r.failed + r.cancelled,
        complete: r.complete,
        failed: r.failed,
        cancelled: r.cancelled,
      })),
    };
  }
}

/** Up to TIMELINE_PER_GROUP indexes spread evenly over 0..n-1, the last one included. */
export function sample(n: number): number[] {
  if (n <= TIMELINE_PER_GROUP) return Array.from({ length: n }, (_, i) => i);
  const step = (n - 1) / (TIMELINE_PER_GROUP - 1);
  return Array.from({ length: TIMELINE_PER_GROUP }, (_, i) => Math.round(i * step));
}
