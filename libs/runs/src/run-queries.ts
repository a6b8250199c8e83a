import type { FileHandle } from 'node:fs/promises';
import { isSafeUploadName, notFound, invalid, WfsEvent } from '@wfs/domain';
import { jobLogName, openRead, runDirs } from '@wfs/storage';
import { Database } from '@wfs/persistence';
import type { WorkflowDefinition } from '@wfs/domain';
import type { WorkflowCatalog } from '@wfs/workflows';
import {
  FileRow,
  fileView,
  FileView,
  JobRow,
  jobView,
  JobView,
  JOBS_INLINE_LIMIT,
  RunRow,
  runView,
  RunView,
} from './run-model';

/** Logs are read from their end: at most this many bytes. */
const LOG_READ_LIMIT = 8 * 1024 * 1024;

export interface RunFilter {
  workflow?: string;
  state?: string;
  qaState?: string;
  archiveState?: string;
  subject?: string;
  correlationId?: string;
  requestId?: number;
}

const FILTER_COLUMNS: Record<keyof RunFilter, string> = {
  workflow: 'workflow',
  state: 'state',
  qaState: 'qa_state',
  archiveState: 'archive_state',
  subject: 'subject',
  correlationId: 'correlation_id',
  requestId: 'request_id',
};

/** Opaque cursor: the last id of the page, so inserts never shift a page. */
export const encodeCursor = (id: number): string => Buffer.from(`r:${id}`).toString('base64url');
export function decodeCursor(cursor: string): number {
  const m = /^r:(\d{1,18})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!m)
    throw invalid('INVALID_CURSOR', 'The cursor is not one this service gave out.', {
      fields: { cursor: 'is not valid' },
    });
  return Number(m[1]);
}

/** Read side of runs: one round trip per kind of row, never one per run. */
export class RunQueries {
  constructor(
    private readonly db: Database,
    private readonly catalog: WorkflowCatalog,
  ) {}

  /**
   * What a job's `waitingFor` is read from besides its row: why its group
   * waits (the scheduler's note) and whether its workflow is paused. One small
   * query for all the rows, beside the jobs' own (which stay the plain index
   * reads they were).
   */
  private async withScheduling(runs: readonly RunRow[], jobs: JobRow[]): Promise<void> {
    const idle = jobs.filter((j) => j.state === 'idle');
    if (idle.length === 0) return;
    const ids = [...new Set(idle.map((j) => j.run_id))];
    const [groups, paused] = await Promise.all([
      this.db.query<{ run_id: string; name: string; waiting_for: string | null }>(
        'SELECT run_id, name, waiting_for FROM job_groups WHERE run_id = ANY($1::bigint[]) AND waiting_for IS NOT NULL',
        [ids],
      ),
      this.db.query<{ workflow: string }>(
        'SELECT workflow FROM workflow_pauses WHERE workflow = ANY($1::text[])',
        [[...new Set(runs.map((r) => r.workflow))]],
      ),
    ]);
    const waiting = new Map(groups.map((g) => [`${g.run_id}/${g.name}`, g.waiting_for]));
    const pausedRuns = new Set(
      runs.filter((r) => paused.some((p) => p.workflow === r.workflow)).map((r) => r.id),
    );
    for (const j of idle) {
      j.group_waiting = waiting.get(`${j.run_id}/${j.name}`) ?? null;
      j.workflow_paused = pausedRuns.has(j.run_id);
    }
  }

  private definition(r: RunRow): Promise<WorkflowDefinition | undefined> {
    return this.catalog.getByDigest(r.workflow_digest).catch(() => undefined);
  }

  async views(rows: RunRow[]): Promise<RunView[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const [jobs, totals, files] = await Promise.all([
      this.db.query<JobRow>(
        `SELECT j.*, j.dispatched_at > now() AS backoff FROM unnest($1::bigint[]) AS r(id)
         CROSS JOIN LATERAL (SELECT * FROM jobs WHERE run_id = r.id ORDER BY position, idx LIMIT ${JOBS_INLINE_LIMIT}) j`,
        [ids],
      ),
      this.db.query<{ run_id: string; total: string }>(
        'SELECT run_id, sum(instances) AS total FROM job_groups WHERE run_id = ANY($1::bigint[]) GROUP BY run_id',
        [ids],
      ),
      this.db.query<FileRow>(
        'SELECT * FROM run_files WHERE run_id = ANY($1::bigint[]) ORDER BY name',
        [ids],
      ),
    ]);
    const by = <T extends { run_id: string }>(list: T[]) => {
      const map = new Map<string, T[]>();
      for (const x of list) map.set(x.run_id, [...(map.get(x.run_id) ?? []), x]);
      return map;
    };
    const jobsBy = by(jobs);
    const filesBy = by(files);
    const totalBy = new Map(totals.map((t) => [t.run_id, Number(t.total)]));
    const defs = await Promise.all(rows.map((r) => this.definition(r)));
    await this.withScheduling(rows, jobs);
    const views = rows.map((r, i) =>
      runView(r, jobsBy.get(r.id) ?? [], totalBy.get(r.id) ?? 0, filesBy.get(r.id) ?? [], defs[i]),
    );
    // Open gates (CONTRACT 5.3 `waiting`): read by name, only for runs whose workflow has gates.
    for (const [i, view] of views.entries()) {
      const gates = (defs[i]?.jobs ?? []).filter((j) => j.executable === 'builtin:gate');
      if (gates.length === 0) continue;
      const open = await this.db.query<{ name: string; dispatched_at: Date | null }>(
        `SELECT name, dispatched_at FROM jobs
         WHERE run_id = $1 AND name = ANY($2::text[]) AND idx = 0 AND state = 'waiting'`,
        [view.id, gates.map((g) => g.name)],
      );
      view.waiting = open.map((o) => ({
        job: o.name,
        prompt: gates.find((g) => g.name === o.name)?.prompt ?? '',
        since: o.dispatched_at ? new Date(o.dispatched_at).toISOString() : null,
      }));
    }
    return views;
  }

  async row(id: number): Promise<RunRow> {
    const [row] = await this.db.query<RunRow>('SELECT * FROM runs WHERE id = $1', [id]);
    if (!row) throw notFound('run', id);
    return row;
  }

  async get(id: number): Promise<RunView> {
    const [view] = await this.views([await this.row(id)]);
    return view as RunView;
  }

  async list(
    filter: RunFilter,
    limit: number,
    cursor?: string,
  ): Promise<{ items: RunView[]; nextCursor: string | null }> {
    const where: string[] = [];
    const params: unknown[] = [];
    for (const [key, column] of Object.entries(FILTER_COLUMNS) as Array<
      [keyof RunFilter, string]
    >) {
      const value = filter[key];
      if (value !== undefined) {
        params.push(value);
        where.push(`${column} = $${params.length}`);
      }
    }
    if (cursor) {
      params.push(decodeCursor(cursor));
      where.push(`id < $${params.length}`);
    }
    params.push(limit + 1);
    const rows = await this.db.query<RunRow>(
      `SELECT * FROM runs ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT $${params.length}`,
      params,
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: await this.views(page),
      nextCursor: rows.length > limit && last ? encodeCursor(Number(last.id)) : null,
    };
  }

  async events(runId: number, after: number, limit: number): Promise<WfsEvent[]> {
    await this.row(runId);
    const rows = await this.db.query<{ body: WfsEvent }>(
      'SELECT body FROM events WHERE run_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3',
      [runId, after, limit],
    );
    return rows.map((r) => r.body);
  }

  /** The run's last `n` events, oldest first. */
  async latestEvents(runId: number, n: number): Promise<WfsEvent[]> {
    await this.row(runId);
    const rows = await this.db.query<{ body: WfsEvent }>(
      `SELECT body FROM (SELECT sequence, body FROM events WHERE run_id = $1 ORDER BY sequence DESC LIMIT $2) e
       ORDER BY sequence`,
      [runId, n],
    );
    return rows.map((r) => r.body);
  }

  /** Job instances in DAG order, paginated by (position, index). */
  async jobs(
    runId: number,
    after: { position: number; index: number } | null,
    limit: number,
  ): Promise<Array<JobView & { position: number }>> {
    const run = await this.row(runId);
    const def = await this.definition(run);
    const rows = await this.db.query<JobRow>(
      `SELECT *, dispatched_at > now() AS backoff FROM jobs
       WHERE run_id = $1 AND (position, idx) > ($2, $3) ORDER BY position, idx LIMIT $4`,
      [runId, after?.position ?? -1, after?.index ?? -1, limit],
    );
    await this.withScheduling([run], rows);
    return rows.map((r) => ({
      ...jobView(
        r,
        def?.jobs.find((d) => d.name === r.name),
      ),
      position: r.position,
    }));
  }

  /** One job instance as the contract's Job. */
  async jobView(runId: number, name: string, index: number): Promise<JobView> {
    const run = await this.row(runId);
    const def = await this.definition(run);
    const [row] = await this.db.query<JobRow>(
      `SELECT *, dispatched_at > now() AS backoff FROM jobs WHERE run_id = $1 AND name = $2 AND idx = $3`,
      [runId, name, index],
    );
    if (!row) throw notFound('job', `${runId}/${name}/${index}`);
    await this.withScheduling([run], [row]);
    return jobView(
      row,
      def?.jobs.find((d) => d.name === name),
    );
  }

  /** The last `tail` lines (or all) of a job instance's stdout or stderr log; empty before it ran. */
  async jobLog(
    runId: number,
    name: string,
    index: number,
    stream: 'stdout' | 'stderr',
    tail: number | null,
  ): Promise<string> {
    const job = await this.job(runId, name, index);
    const run = await this.row(runId);
    if (!run.processing_dir) return '';
    // Never through a link: a log replaced by one is refused (409), not followed out of the run.
    const handle = await openRead(
      runDirs(run.processing_dir).logs,
      jobLogName(job.name, job.idx, stream),
    ).catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
      throw e;
    });
    if (!handle) return '';
    try {
      const { size } = await handle.stat();
      const start = Math.max(0, size - LOG_READ_LIMIT);
      const buffer = Buffer.alloc(size - start);
      await handle.read(buffer, 0, buffer.length, start);
      const text = buffer.toString('utf8');
      if (!tail) return text;
      const lines = text.split('\n');
      if (lines[lines.length - 1] === '') lines.pop();
      return lines.slice(-tail).join('\n') + '\n';
    } finally {
      await handle.close();
    }
  }

  async job(runId: number, name: string, index: number): Promise<JobRow> {
    const [row] = await this.db.query<JobRow>(
      'SELECT * FROM jobs WHERE run_id = $1 AND name = $2 AND idx = $3',
      [runId, name, index],
    );
    if (!row) throw notFound('job', `${runId}/${name}/${index}`);
    return row;
  }

  /** A stored input file, opened for download without following links; 404 when it is not there. */
  async openFile(runId: number, name: string): Promise<{ handle: FileHandle; size: number }> {
    const run = await this.row(runId);
    const files = await this.files(runId);
    if (!isSafeUploadName(name) || !files.some((f) => f.name === name) || !run.processing_dir) {
      throw notFound('file', `${runId}/${name}`);
    }
    const handle = await openRead(runDirs(run.processing_dir).inputs, name);
    if (!handle) throw notFound('file', `${runId}/${name}`);
    return { handle, size: (await handle.stat()).size };
  }

  async files(runId: number): Promise<FileView[]> {
    await this.row(runId);
    const rows = await this.db.query<FileRow>(
      'SELECT * FROM run_files WHERE run_id = $1 ORDER BY name',
      [runId],
    );
    return rows.map(fileView);
  }

  async request(id: number): Promise<{
    id: number;
    workflow: string;
    subject: string | null;
    sealed: boolean;
    runs: RunView[];
  }> {
    const [req] = await this.db.query<{
      id: string;
      workflow: string;
      subject: string | null;
      sealed: boolean;
    }>('SELECT * FROM requests WHERE id = $1', [id]);
    if (!req) throw notFound('request', id);
    const runs = await this.db.query<RunRow>(
      'SELECT * FROM runs WHERE request_id = $1 ORDER BY version',
      [id],
    );
    return {
      id: Number(req.id),
      workflow: req.workflow,
      subject: req.subject,
      sealed: req.sealed,
      runs: await this.views(runs),
    };
  }
}
