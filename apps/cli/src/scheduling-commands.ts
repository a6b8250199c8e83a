import { Client, Json, UsageError } from './client';
import type { Flags, Io } from './commands';

/**
 * The operators' scheduling commands (CONTRACT 5.9): workers and what they
 * use, hold and release of one job instance, pause and unpause of a
 * workflow, named concurrency limits.
 */

const str = (flags: Flags, name: string): string | undefined => {
  const v = flags[name];
  if (Array.isArray(v)) return v[v.length - 1];
  return typeof v === 'string' ? v : undefined;
};

export const SCHEDULING_USAGES: Record<string, string> = {
  workers: 'wfs workers',
  hold: 'wfs hold <runId> <job> [index] --reason R',
  release: 'wfs release <runId> <job> [index]',
  pause: 'wfs pause <workflow> --reason R',
  unpause: 'wfs unpause <workflow>',
  limits: 'wfs limits [set NAME MAX | delete NAME]',
};

const usage = (command: string, problem: string) =>
  new UsageError(`${problem}\nusage: ${SCHEDULING_USAGES[command]}`);

/** `<runId> <job> [index]` of hold and release. */
function instance(command: string, [id, job, index]: string[]): string {
  if (!id || !/^[1-9][0-9]*$/.test(id))
    throw usage(command, `expected a run id, got ${id ?? 'nothing'}`);
  if (!job) throw usage(command, 'name the job (wfs status <runId> lists them)');
  if (index !== undefined && !/^(0|[1-9][0-9]*)$/.test(index))
    throw usage(command, `the index is a whole number, not ${index}`);
  return `/api/v1/runs/${id}/jobs/${encodeURIComponent(job)}/${index ?? '0'}`;
}

function jobLine(j: Json): string {
  const why = j.waitingFor ? `  waiting for ${j.waitingFor}` : '';
  return `job ${j.name}[${j.index}]  ${j.state}  attempts=${j.attempts}${j.statusReason ? `  ${j.statusReason}` : ''}${why}`;
}

export const SCHEDULING_COMMANDS: Record<
  string,
  (client: Client, io: Io, args: string[], flags: Flags) => Promise<number>
> = {
  async workers(client, io) {
    const { items } = await client.request('GET', '/api/v1/workers');
    if (io.json) io.out(JSON.stringify(items));
    else
      for (const w of items)
        io.out(
          `${w.alive ? 'alive' : 'dead '}  ${w.id}  ${w.executor}  cpus ${w.cpusInUse}/${w.cpus}  memory ${w.memoryInUse}/${w.memory}` +
            `  gpus ${w.gpusInUse}/${w.gpus}  jobs ${w.jobs.length}/${w.slots}` +
            `${w.labels.length ? `  labels ${w.labels.join(',')}` : ''}  last seen ${w.lastSeenAt}`,
        );
    return 0;
  },

  async hold(client, io, args, flags) {
    const reason = str(flags, 'reason');
    if (!reason) throw usage('hold', '--reason R is required (it is shown with the held job)');
    const job = await client.request('POST', `${instance('hold', args)}/hold`, { reason });
    io.out(io.json ? JSON.stringify(job) : jobLine(job));
    return 0;
  },

  async release(client, io, args) {
    const job = await client.request('POST', `${instance('release', args)}/release`);
    io.out(io.json ? JSON.stringify(job) : jobLine(job));
    return 0;
  },

  async pause(client, io, [workflow], flags) {
    const reason = str(flags, 'reason');
    if (!workflow) throw usage('pause', 'name the workflow (wfs workflows lists them)');
    if (!reason) throw usage('pause', '--reason R is required');
    const w = await client.request(
      'POST',
      `/api/v1/workflows/${encodeURIComponent(workflow)}/pause`,
      {
        reason,
      },
    );
    io.out(
      io.json
        ? JSON.stringify(w)
        : `${w.name} paused by ${w.paused.by} at ${w.paused.at}: ${w.paused.reason}`,
    );
    return 0;
  },

  async unpause(client, io, [workflow]) {
    if (!workflow) throw usage('unpause', 'name the workflow');
    const w = await client.request(
      'POST',
      `/api/v1/workflows/${encodeURIComponent(workflow)}/unpause`,
    );
    io.out(io.json ? JSON.stringify(w) : `${w.name} runs again`);
    return 0;
  },

  async limits(client, io, [action, name, max]) {
    if (action === 'set') {
      if (!name || max === undefined || !/^(0|[1-9][0-9]*)$/.test(max))
        throw usage('limits', 'set takes a NAME and a MAX (a whole number)');
      const l = await client.request('PUT', `/api/v1/limits/${encodeURIComponent(name)}`, {
        max: Number(max),
      });
      io.out(io.json ? JSON.stringify(l) : `${l.name}  ${l.inUse}/${l.max}`);
      return 0;
    }
    if (action === 'delete') {
      if (!name) throw usage('limits', 'delete takes a NAME');
      await client.request('DELETE', `/api/v1/limits/${encodeURIComponent(name)}`);
      io.out(io.json ? JSON.stringify({ deleted: name }) : `${name} deleted (unlimited now)`);
      return 0;
    }
    if (action !== undefined) throw usage('limits', `unknown action ${action}`);
    const { items } = await client.request('GET', '/api/v1/limits');
    if (io.json) io.out(JSON.stringify(items));
    else for (const l of items) io.out(`${l.name.padEnd(32)} ${l.inUse}/${l.max}`);
    return 0;
  },
};
