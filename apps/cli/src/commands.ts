import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client, UsageError } from './client';
import { RunDoc } from './documents';
import { watchRun } from './watch';

export interface Io {
  json: boolean;
  tty: boolean;
  out: (s: string) => void;
}

export type Flags = Record<string, string | boolean | string[] | undefined>;

const str = (flags: Flags, name: string): string | undefined => {
  const v = flags[name];
  if (Array.isArray(v)) return v[v.length - 1];
  return typeof v === 'string' ? v : undefined;
};
const list = (flags: Flags, name: string): string[] => {
  const v = flags[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
};

function runId(arg: string | undefined): number {
  if (!arg || !/^[1-9][0-9]*$/.test(arg))
    throw new UsageError(`expected a run id (a positive integer), got ${arg ?? 'nothing'}`);
  return Number(arg);
}

function readFile(p: string): Buffer {
  try {
    return fs.readFileSync(p);
  } catch (e) {
    throw new UsageError(
      `cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

/** A workflow's parameter schema, as far as the CLI reads it. */
export interface ParameterSchema {
  properties?: Record<string, { type?: string | string[]; enum?: unknown[] }>;
}

/** Whether the schema says this parameter is a string (so `6.6` stays "6.6"). */
function isStringParameter(schema: ParameterSchema | undefined, name: string): boolean {
  const p = schema?.properties?.[name];
  if (!p) return false;
  if (p.type === 'string') return true;
  if (Array.isArray(p.type)) return p.type.includes('string') && !p.type.includes('number');
  return Array.isArray(p.enum) && p.enum.length > 0 && p.enum.every((v) => typeof v === 'string');
}

/**
 * `--param k=v` values: a string where the workflow's schema says string,
 * else JSON when they parse as JSON (numbers, lists), strings otherwise.
 */
function params(flags: Flags, schema?: ParameterSchema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const file = str(flags, 'params-file');
  if (file) {
    try {
      Object.assign(out, JSON.parse(readFile(file).toString('utf8')));
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError(`${file} is not a JSON object`);
    }
  }
  for (const kv of list(flags, 'param')) {
    const eq = kv.indexOf('=');
    if (eq < 1) throw new UsageError(`--param takes key=value, got "${kv}"`);
    const key = kv.slice(0, eq);
    const raw = kv.slice(eq + 1);
    let value: unknown = raw;
    if (!isStringParameter(schema, key)) {
      try {
        value = JSON.parse(raw);
      } catch {
        value = raw;
      }
    }
    out[key] = value;
  }
  return out;
}

export function runLine(r: RunDoc): string {
  const err = r.error ? `  ${r.error.code}: ${r.error.message}` : '';
  return `run ${r.id}  ${r.workflow} v${r.version}  ${r.subject ?? '-'}  ${r.state}  qa=${r.qaState}  archive=${r.archiveState}  disk=${r.diskState}${err}`;
}

function showRun(io: Io, r: RunDoc): void {
  if (io.json) return io.out(JSON.stringify(r));
  io.out(runLine(r));
  io.out(
    `  request ${r.requestId}  created ${r.createdAt} by ${r.createdBy}${r.finishedAt ? `  finished ${r.finishedAt}` : ''}`,
  );
  if (r.processingDir) {
    const gone = r.diskState === 'removed' || r.diskState === 'expired' || r.diskState === 'none';
    io.out(`  directory ${r.processingDir}${gone ? `  (${r.diskState}: no longer on disk)` : ''}`);
  }
  for (const f of r.files ?? []) io.out(`  file ${f.name}  ${f.size} bytes  sha256 ${f.sha256}`);
  for (const j of r.jobs ?? []) {
    io.out(
      `  job ${j.name}[${j.index}]  ${j.state}  attempts=${j.attempts}${j.exitCode !== null ? `  exit=${j.exitCode}` : ''}${j.statusReason ? `  ${j.statusReason}` : ''}${j.waitingFor ? `  waiting for ${j.waitingFor}` : ''}`,
    );
  }
  for (const g of r.waiting ?? [])
    io.out(
      `  gate ${g.job} waiting since ${g.since}: ${g.prompt}  (wfs gate ${r.id} ${g.job} approve|reject)`,
    );
  if (r.jobsPrunedAt)
    io.out(
      `  ${r.jobsTotal} job instances; their rows were deleted by the retention sweep at ${r.jobsPrunedAt}`,
    );
  else if (r.jobsTotal > (r.jobs?.length ?? 0))
    io.out(`  ... ${r.jobsTotal - r.jobs.length} more job instances`);
}

/** Runs that ended badly exit 1 after --watch, as `wfs watch` does. */
async function maybeWatch(client: Client, io: Io, flags: Flags, run: RunDoc): Promise<number> {
  if (!flags.watch) {
    showRun(io, run);
    return 0;
  }
  const final = await watchRun(client, run.id, io);
  if (!io.json) io.out(runLine(final));
  return final.state === 'complete' ? 0 : 1;
}

async function latestRun(client: Client, subject: string): Promise<number> {
  const page = await client.request(
    'GET',
    `/api/v1/runs?subject=${encodeURIComponent(subject)}&limit=1`,
  );
  const run = page.items[0];
  if (!run) throw new UsageError(`no run has the subject ${subject}`);
  return run.id;
}

/** The usage line of each command, printed under a usage error. */
export const USAGES: Record<string, string> = {
  workflows: 'wfs workflows',
  submit:
    'wfs submit <workflow> [--subject S] [--param k=v ...] [--params-file f.json] [--file path ...] [--results-dir D] [--correlation-id C] [--watch]',
  status: 'wfs status <runId>',
  list: 'wfs list [--state S] [--workflow W] [--subject S] [--qa Q] [--limit N]',
  watch: 'wfs watch <runId>',
  rerun:
    'wfs rerun <runId | subject> [--ppr f] [--flagtemplate f] [--flux f] [--flagtargetstemplate f] [--param k=v] [--from JOB] [--watch]',
  qa: 'wfs qa <runId> pass|fail|null --analyst NAME [--comments TEXT]',
  ingest:
    'wfs ingest <runId> --qa pass|fail|null --analyst NAME [--report qa_report.txt] [--flagtemplate f] [--flagtargetstemplate f] [--watch]',
  'ingest-many':
    'wfs ingest-many <runId...> --analyst NAME [--qa pass|fail|null] [--comments TEXT] [--correlation-id C] [--watch]',
  reject: 'wfs reject <runId> --analyst NAME [--comments TEXT]',
  cleanup: 'wfs cleanup <runId> [--dry-run]',
  cancel: 'wfs cancel <runId>',
  resume: 'wfs resume <runId>',
  gate: 'wfs gate <runId> <job> approve|reject [--comment C] [--param k=v ...]',
};

/** A usage error naming every missing piece, with the command's usage line. */
function missing(command: string, problems: string[]): UsageError {
  return new UsageError(`${problems.join('; ')}\nusage: ${USAGES[command] ?? ''}`);
}

const QA_VALUES = ['pass', 'fail', 'null'];

/** The parameter schema of a workflow (a 404 says which workflows there are). */
async function schemaOf(client: Client, workflow: string): Promise<ParameterSchema> {
  const def = await client.request('GET', `/api/v1/workflows/${encodeURIComponent(workflow)}`);
  return (def.parameters ?? {}) as ParameterSchema;
}

const FILE_FLAGS: Record<string, string> = {
  ppr: 'PPR.xml',
  flagtemplate: 'flagtemplate.txt',
  flux: 'flux.csv',
  flagtargetstemplate: 'flagtargetstemplate.txt',
  report: 'qa_report.txt',
};

function attach(form: FormData, flags: Flags, names: string[]): void {
  for (const flag of names) {
    const p = str(flags, flag);
    if (p) form.append(FILE_FLAGS[flag] as string, new Blob([readFile(p)]), FILE_FLAGS[flag]);
  }
}

export const COMMANDS: Record<
  string,
  (client: Client, io: Io, args: string[], flags: Flags) => Promise<number>
> = {
  async workflows(client, io) {
    const { items } = await client.request('GET', '/api/v1/workflows');
    if (io.json) io.out(JSON.stringify(items));
    else
      for (const w of items)
        io.out(
          `${w.name.padEnd(32)} v${w.version}  ${w.subjectKind.padEnd(16)} ${w.description.split('\n')[0]}`,
        );
    return 0;
  },

  async submit(client, io, [workflow], flags) {
    if (!workflow) throw missing('submit', ['name the workflow (wfs workflows lists them)']);
    const schema = await schemaOf(client, workflow);
    const created = await client.request(
      'POST',
      `/api/v1/workflows/${encodeURIComponent(workflow)}/runs`,
      {
        subject: str(flags, 'subject'),
        parameters: params(flags, schema),
        correlationId: str(flags, 'correlation-id'),
        resultsDir: str(flags, 'results-dir')
          ? path.resolve(str(flags, 'results-dir') as string)
          : undefined,
      },
    );
    for (const f of list(flags, 'file'))
      await client.upload(created.id, path.basename(f), readFile(f));
    const run = await client.request('POST', `/api/v1/runs/${created.id}/submit`);
    return maybeWatch(client, io, flags, run);
  },

  async status(client, io, [id]) {
    showRun(io, await client.request('GET', `/api/v1/runs/${runId(id)}`));
    return 0;
  },

  async list(client, io, _args, flags) {
    const q = new URLSearchParams();
    for (const [flag, param] of [
      ['state', 'state'],
      ['workflow', 'workflow'],
      ['subject', 'subject'],
      ['qa', 'qaState'],
      ['limit', 'limit'],
    ] as const) {
      const v = str(flags, flag);
      if (v) q.set(param, v);
    }
    const page = await client.request('GET', `/api/v1/runs?${q.toString()}`);
    if (io.json) io.out(JSON.stringify(page.items));
    else for (const r of page.items) io.out(runLine(r));
    return 0;
  },

  async watch(client, io, [id]) {
    const final = await watchRun(client, runId(id), io);
    if (!io.json) io.out(runLine(final));
    return final.state === 'complete' ? 0 : 1;
  },

  async rerun(client, io, [target], flags) {
    if (!target) throw missing('rerun', ['name the run id or the subject to re-run']);
    const id = /^[1-9][0-9]*$/.test(target) ? Number(target) : await latestRun(client, target);
    const form = new FormData();
    attach(form, flags, ['ppr', 'flagtemplate', 'flux', 'flagtargetstemplate']);
    const schema =
      list(flags, 'param').length > 0
        ? await schemaOf(client, (await client.request('GET', `/api/v1/runs/${id}`)).workflow)
        : undefined;
    const p = params(flags, schema);
    if (Object.keys(p).length > 0) form.append('parameters', JSON.stringify(p));
    const from = str(flags, 'from');
    if (from) form.append('fromJob', from);
    const run = await client.request('POST', `/api/v1/runs/${id}/rerun`, form);
    return maybeWatch(client, io, flags, run);
  },

  async qa(client, io, [id, status], flags) {
    const analyst = str(flags, 'analyst');
    const problems = [
      ...(id ? [] : ['the run id is missing']),
      ...(QA_VALUES.includes(status ?? '')
        ? []
        : [
            status
              ? `the QA status must be pass, fail or null, not ${status}`
              : 'the QA status (pass, fail or null) is missing',
          ]),
      ...(analyst ? [] : ['--analyst NAME is required']),
    ];
    if (problems.length > 0) throw missing('qa', problems);
    showRun(
      io,
      await client.request('POST', `/api/v1/runs/${runId(id)}/qa`, {
        status,
        analyst,
        comments: str(flags, 'comments'),
      }),
    );
    return 0;
  },

  async ingest(client, io, [id], flags) {
    const qa = str(flags, 'qa');
    const analyst = str(flags, 'analyst');
    const problems = [
      ...(id ? [] : ['the run id is missing']),
      ...(QA_VALUES.includes(qa ?? '')
        ? []
        : [qa ? `--qa must be pass, fail or null, not ${qa}` : '--qa pass|fail|null is required']),
      ...(analyst ? [] : ['--analyst NAME is required']),
    ];
    if (problems.length > 0) throw missing('ingest', problems);
    const form = new FormData();
    form.append('qa', qa as string);
    form.append('analyst', analyst);
    if (str(flags, 'comments')) form.append('comments', str(flags, 'comments') as string);
    attach(form, flags, ['report', 'flagtemplate', 'flagtargetstemplate']);
    const { ingestionRun } = await client.request('POST', `/api/v1/runs/${runId(id)}/ingest`, form);
    return maybeWatch(client, io, flags, ingestionRun);
  },

  /** One ingestion run for many complete runs of one workflow (POST /api/v1/ingestions). */
  async 'ingest-many'(client, io, ids, flags) {
    const qa = str(flags, 'qa');
    const analyst = str(flags, 'analyst');
    const problems = [
      ...(ids.length > 0 ? [] : ['the run ids are missing']),
      ...(qa === undefined || QA_VALUES.includes(qa)
        ? []
        : [`--qa must be pass, fail or null, not ${qa}`]),
      ...(analyst ? [] : ['--analyst NAME is required']),
    ];
    if (problems.length > 0) throw missing('ingest-many', problems);
    const res = await client.request<{ runs: RunDoc[]; ingestionRun: RunDoc }>(
      'POST',
      '/api/v1/ingestions',
      {
        runIds: ids.map(runId),
        analyst,
        ...(qa ? { qa } : {}),
        ...(str(flags, 'comments') ? { comments: str(flags, 'comments') } : {}),
        ...(str(flags, 'correlation-id') ? { correlationId: str(flags, 'correlation-id') } : {}),
      },
    );
    if (!io.json && !flags.watch)
      io.out(`ingesting ${res.runs.length} runs: ${res.runs.map((r) => r.id).join(' ')}`);
    return maybeWatch(client, io, flags, res.ingestionRun);
  },

  async reject(client, io, [id], flags) {
    const analyst = str(flags, 'analyst');
    if (!analyst) throw missing('reject', ['--analyst NAME is required']);
    showRun(
      io,
      await client.request('POST', `/api/v1/runs/${runId(id)}/reject`, {
        analyst,
        comments: str(flags, 'comments'),
      }),
    );
    return 0;
  },

  async cleanup(client, io, [id], flags) {
    const result = await client.request(
      'POST',
      `/api/v1/runs/${runId(id)}/cleanup?dryRun=${flags['dry-run'] ? 'true' : 'false'}`,
    );
    if (io.json) io.out(JSON.stringify(result));
    else
      for (const p of result.deleted) io.out(`${result.dryRun ? 'would delete' : 'deleted'} ${p}`);
    return 0;
  },

  async cancel(client, io, [id]) {
    showRun(io, await client.request('POST', `/api/v1/runs/${runId(id)}/cancel`));
    return 0;
  },

  /** A person's decision on a waiting gate (CONTRACT 5.4, 5.9): approve (maybe with new parameters) or reject. */
  async gate(client, io, [id, job, decision], flags) {
    const problems = [];
    if (!job) problems.push('name the gate (wfs status <runId> lists what waits)');
    if (decision !== 'approve' && decision !== 'reject') problems.push('say approve or reject');
    if (problems.length > 0) throw missing('gate', problems);
    const run = runId(id);
    const comment = str(flags, 'comment');
    const body: Record<string, unknown> = comment ? { comment } : {};
    if (decision === 'approve' && list(flags, 'param').length > 0) {
      const { workflow } = await client.request('GET', `/api/v1/runs/${run}`);
      body.parameters = params(flags, await schemaOf(client, workflow));
    } else if (list(flags, 'param').length > 0)
      throw missing('gate', ['--param goes with approve']);
    showRun(
      io,
      await client.request(
        'POST',
        `/api/v1/runs/${run}/gates/${encodeURIComponent(job as string)}/${decision}`,
        body,
      ),
    );
    return 0;
  },

  /** A failed or cancelled run goes on where it stopped (CONTRACT 5.4): what completed is kept. */
  async resume(client, io, [id]) {
    showRun(io, await client.request('POST', `/api/v1/runs/${runId(id)}/resume`));
    return 0;
  },
};
