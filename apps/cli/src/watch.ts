import { Client } from './client';
import { EventDoc, RunDoc } from './documents';

const TERMINAL = new Set(['complete', 'failed', 'cancelled']);

/** Parses a Server-Sent Events body into event objects. */
async function* sse(res: Response): AsyncGenerator<EventDoc> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = frame.split('\n').find((l) => l.startsWith('data: '));
      if (data) yield JSON.parse(data.slice(6)) as EventDoc;
    }
  }
}

function bar(done: number, total: number, width = 30): string {
  const filled = total > 0 ? Math.round((done / total) * width) : 0;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
}

/** `split 12/40 (3 running, 1 failed)`: a summary group's counts as a person reads them. */
export function progressText(p: NonNullable<EventDoc['progress']>): string {
  const more = [
    p.running ? `${p.running} running` : '',
    p.failed ? `${p.failed} failed` : '',
    p.held ? `${p.held} held` : '',
  ].filter(Boolean);
  return `${p.job} ${p.completed}/${p.total}${more.length ? ` (${more.join(', ')})` : ''}`;
}

/**
 * Follows a run's event stream to its end (reconnecting with Last-Event-ID if
 * the connection drops). A progress bar on a terminal, plain lines otherwise,
 * JSON lines with --json. Returns the final run.
 */
export async function watchRun(
  client: Client,
  runId: number,
  opts: { json: boolean; tty: boolean; out: (s: string) => void },
): Promise<RunDoc> {
  const run = await client.request<RunDoc>('GET', `/api/v1/runs/${runId}`);
  const total: number = run.jobsTotal || 0;
  let done = run.jobs.filter((j) => j.state === 'completed').length;
  let last = 0;
  let finished = TERMINAL.has(run.state);
  // Summary groups (`events: summary`) say their counts in group-progress, not per instance.
  const summarised = new Map<string, number>();
  const doneSoFar = () => done + [...summarised.values()].reduce((a, b) => a + b, 0);
  while (!finished) {
    let res: Response;
    try {
      res = await client.stream(
        `/api/v1/runs/${runId}/events/stream`,
        last ? { 'last-event-id': String(last) } : {},
      );
    } catch (e) {
      if ((e as { status?: number }).status) throw e;
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    try {
      for await (const e of sse(res)) {
        last = e.sequence;
        if (e.type === 'job-completed') done++;
        const p = e.type === 'group-progress' ? e.progress : null;
        if (p) {
          if (!summarised.has(p.job))
            done -= run.jobs.filter((j) => j.name === p.job && j.state === 'completed').length;
          summarised.set(p.job, p.completed);
        }
        if (opts.json) opts.out(JSON.stringify(e));
        else if (opts.tty) {
          const what = p
            ? progressText(p)
            : e.job
              ? `${e.job.stage || e.job.name}: ${e.job.name}[${e.job.index}] ${e.type.replace('job-', '')}`
              : e.type;
          process.stderr.write(`\r\x1b[2K${bar(doneSoFar(), total)} ${what.slice(0, 60)}`);
        } else {
          const job = p
            ? ` ${progressText(p)}`
            : e.job
              ? ` ${e.job.name}[${e.job.index}]${e.job.stage ? ` (${e.job.stage})` : ''}${e.job.statusReason ? `: ${e.job.statusReason}` : ''}`
              : '';
          opts.out(`${e.occurredAt} run ${e.runId} #${e.sequence} ${e.type}${job}`);
        }
        if (TERMINAL.has(e.type)) finished = true;
      }
    } catch {
      /* connection dropped: resume after the last event seen */
    }
    if (!finished) {
      const now = await client.request<RunDoc>('GET', `/api/v1/runs/${runId}`);
      finished = TERMINAL.has(now.state);
    }
  }
  if (opts.tty && !opts.json) process.stderr.write('\n');
  return client.request<RunDoc>('GET', `/api/v1/runs/${runId}`);
}
