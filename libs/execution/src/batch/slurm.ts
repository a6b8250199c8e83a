/**
 * The Slurm adapter of the batch-system port (WFS_EXECUTOR=slurm): sbatch,
 * squeue, scontrol, sacct and scancel, run with argument arrays (never a
 * shell), each with a time limit and the tool's own stderr in its errors.
 *
 * What it relies on, as seen on Slurm 22.05 (Debian 12's slurm-wlm):
 * - The batch script is `#!/bin/sh`, a `cd` into the job's cwd (Slurm runs a
 *   job whose --chdir is missing in /tmp instead), then `exec /usr/bin/env -i
 *   -- 'K=V'... 'executable' 'arg'...`: the job gets exactly its spec's
 *   environment, whatever Slurm adds (SLURM_*, or a login environment).
 * - sbatch runs with --export=ALL and the tools with only `env` (plus PATH):
 *   what Slurm exports is that small environment, never wfs's own (no
 *   secret of the service's reaches slurmctld's state), and no login shell
 *   is started on the node (--export=NONE/NIL make slurmd run
 *   `su - user -c env`, which costs up to seconds a job).
 * - `squeue -h -t all -j a,b,c -o ...` lists the ids slurmctld still knows
 *   (ended ones until MinJobAge) and leaves the others out; for a single
 *   unknown id it fails with "Invalid job id specified" instead.
 * - squeue prints no exit code: `scontrol -o show job <id>` does
 *   (`ExitCode=3:0`, `ExitCode=0:9` for a signal), one call per FAILED job.
 * - Jobs slurmctld has forgotten: `sacct -j ids -X -n --parsable2`, or,
 *   where "Slurm accounting storage is disabled", `sacct -c` (the jobcomp
 *   file), same columns.
 */
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BatchEnd, BatchSpec, BatchStatus, BatchSystem } from './batch-system';

export interface SlurmBatchOptions {
  /** The directory of the Slurm tools (WFS_SLURM_BIN), or null: found on PATH. */
  bin: string | null;
  partition: string | null;
  account: string | null;
  /** More sbatch words (WFS_SLURM_EXTRA), after wfs's own (so they may override them). */
  extra: string[];
  /** The environment the tools run with (e.g. SLURM_CONF); PATH is added from wfs's own unless given. */
  env: Record<string, string>;
  /** Each tool's time limit (ms); 30 s unless told. */
  toolTimeoutMs?: number;
}

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Max ids on one squeue/sacct command line (a round may take a few). */
const CHUNK = 500;

/** A word for sh, single-quoted (`'` becomes `'\''`). */
export function shQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The batch script's file name, derivable from the spec alone. */
export function scriptName(spec: BatchSpec): string {
  const safe = spec.job.replace(/[^A-Za-z0-9._-]/g, '_');
  return `${safe}.${spec.index}.a${spec.attempt}.sbatch`;
}

/** The comment wfs marks its jobs with (find() matches it). */
export const attemptComment = (attempt: number): string => `wfs-attempt=${attempt}`;

/**
 * The batch script: enters cwd, then execs the executable under `env -i`
 * with exactly spec.env.
 */
export function batchScript(spec: BatchSpec): string {
  for (const [k, v] of Object.entries(spec.env)) {
    if (k === '' || k.includes('=') || k.includes('\0') || v.includes('\0'))
      throw new Error(`environment variable ${JSON.stringify(k)} cannot be passed to a Slurm job`);
  }
  // env takes a first word with '=' for a variable, not the command.
  if (spec.executable.includes('=') || spec.executable.includes('\0'))
    throw new Error(
      `executable ${JSON.stringify(spec.executable)} cannot be run under env (it contains '=')`,
    );
  if (spec.args.some((a) => a.includes('\0'))) throw new Error('an argument contains a NUL byte');
  const words = [
    'exec',
    '/usr/bin/env',
    '-i',
    '--',
    ...Object.entries(spec.env).map(([k, v]) => shQuote(`${k}=${v}`)),
    shQuote(spec.executable),
    ...spec.args.map(shQuote),
  ];
  return [
    '#!/bin/sh',
    `# wfs ${spec.name} attempt ${spec.attempt} (written by wfs; the job's whole environment is below)`,
    `cd ${shQuote(spec.cwd)} || exit 127`,
    words.join(' '),
    '',
  ].join('\n');
}

/** sbatch's arguments for a spec whose script is at `script`. */
export function sbatchArgs(
  spec: BatchSpec,
  script: string,
  o: Pick<SlurmBatchOptions, 'partition' | 'account' | 'extra'>,
): string[] {
  const args = [
    '--parsable',
    `--job-name=${spec.name}`,
    `--comment=${attemptComment(spec.attempt)}`,
    `--chdir=${spec.cwd}`,
    `--output=${spec.stdoutPath}`,
    `--error=${spec.stderrPath}`,
    '--open-mode=append',
    '--no-requeue',
    `--cpus-per-task=${Math.max(1, Math.ceil(spec.cpus || 0))}`,
  ];
  // --mem=0 would ask for the whole node.
  if (spec.memoryMb > 0) args.push(`--mem=${Math.ceil(spec.memoryMb)}M`);
  if (spec.gpus > 0) args.push(`--gres=gpu:${Math.ceil(spec.gpus)}`);
  if (spec.labels.length > 0) {
    const bad = spec.labels.find((l) => !/^[A-Za-z0-9_.:+-]+$/.test(l));
    if (bad !== undefined)
      throw new Error(`label ${JSON.stringify(bad)} is not a Slurm feature name`);
    args.push(`--constraint=${spec.labels.join('&')}`);
  }
  // wfs enforces the exact limit itself; Slurm's is a minute later, as a backstop.
  if (Number.isFinite(spec.timeoutSeconds) && spec.timeoutSeconds > 0)
    args.push(`--time=${Math.ceil(spec.timeoutSeconds / 60) + 1}`);
  if (o.partition) args.push(`--partition=${o.partition}`);
  if (o.account) args.push(`--account=${o.account}`);
  args.push(...o.extra, '--export=ALL', script);
  return args;
}

/** The id in sbatch --parsable's output (`id` or `id;cluster`). */
export function parseSbatch(stdout: string): string | null {
  for (const line of stdout.split('\n')) {
    const m = /^\s*(\d+)(?:;\S*)?\s*$/.exec(line);
    if (m) return m[1];
  }
  return null;
}

export interface SqueueRow {
  id: string;
  state: string;
  reason: string;
  node: string;
}

/** `squeue -h -o '%i|%T|%r|%N'` rows. */
export function parseSqueue(stdout: string): SqueueRow[] {
  const rows: SqueueRow[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.trim()) continue;
    const [id, state, reason, node] = line.split('|');
    if (!id || !state) continue;
    rows.push({
      id: id.trim(),
      state: state.trim(),
      reason: (reason ?? '').trim(),
      node: (node ?? '').trim(),
    });
  }
  return rows;
}

/** One `scontrol -o show job` line's fields (the first of each name: `NodeList=` also ends ReqNodeList=...). */
export function parseScontrol(line: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const word of line.trim().split(/\s+/)) {
    const eq = word.indexOf('=');
    if (eq <= 0) continue;
    const k = word.slice(0, eq);
    if (!(k in fields)) fields[k] = word.slice(eq + 1);
  }
  return fields;
}

export interface SacctRow {
  id: string;
  state: string;
  exitCode: string;
  node: string;
  /** What follows the state word (`CANCELLED by 0`). */
  detail: string;
}

/** `sacct -X -n --parsable2 -o JobID,State,ExitCode,NodeList` rows; the last row of an id wins. */
export function parseSacct(stdout: string): Map<string, SacctRow> {
  const rows = new Map<string, SacctRow>();
  for (const line of stdout.split('\n')) {
    if (!line.trim()) continue;
    const [id, stateField, exitCode, node] = line.split('|');
    if (!id || !/^\d+$/.test(id.trim()) || !stateField) continue;
    const [state, ...detail] = stateField.trim().split(/\s+/);
    rows.set(id.trim(), {
      id: id.trim(),
      state,
      exitCode: (exitCode ?? '').trim(),
      node: (node ?? '').trim(),
      detail: detail.join(' '),
    });
  }
  return rows;
}

/** `ExitCode=code:signal` as wfs's exit: a signal (not 0) wins over the code. */
export function parseExitCode(
  exitCode: string,
): { exitCode: number | null; signal: string | null } | null {
  const m = /^(\d+):(\d+)$/.exec(exitCode.trim());
  if (!m) return null;
  const code = Number(m[1]);
  const sig = Number(m[2]);
  if (sig > 0) return { exitCode: null, signal: signalName(sig) };
  return { exitCode: code, signal: null };
}

function signalName(n: number): string {
  const found = Object.entries(os.constants.signals).find(([, v]) => v === n);
  return found ? found[0] : `SIG${n}`;
}

const RUNNING_STATES = new Set([
  'RUNNING',
  'CONFIGURING',
  // Ended on the node, its epilog or cleanup not yet: still running for wfs (the next look says how it ended).
  'COMPLETING',
  'SUSPENDED',
  'STOPPED',
  'SIGNALING',
  'RESIZING',
  'STAGE_OUT',
]);

/**
 * What wfs makes of a job in state `state` (squeue %T, scontrol JobState or
 * sacct State's first word), with its Reason and ExitCode where known.
 * `null` for FAILED without an exit code (ask scontrol or sacct).
 */
export function mapState(
  state: string,
  reason: string,
  node: string,
  exitCode: string | null,
  detail = '',
): BatchStatus | null {
  const ended = (end: BatchEnd): BatchStatus => ({ state: 'ended', end });
  const why = [reason && reason !== 'None' ? reason : '', detail].filter(Boolean).join(', ');
  const msg = (what: string) => `Slurm ${state}${why ? ` (${why})` : ''}${what ? `: ${what}` : ''}`;
  if (RUNNING_STATES.has(state))
    return node && node !== '(null)' ? { state: 'running', node } : { state: 'running' };
  switch (state) {
    case 'PENDING':
      if (/^JobHeld(User|Admin)$/.test(reason)) return { state: 'held', reason };
      return reason && reason !== 'None' ? { state: 'pending', reason } : { state: 'pending' };
    // Someone (not Slurm itself: wfs submits --no-requeue) put it back in the queue: it runs again under its id.
    case 'REQUEUED':
    case 'REQUEUE_FED':
      return { state: 'pending', reason: `requeued${why ? ` (${why})` : ''}` };
    case 'REQUEUE_HOLD':
    case 'SPECIAL_EXIT':
      return { state: 'held', reason: `${state}${why ? ` (${why})` : ''}` };
    case 'COMPLETED':
      return ended({ kind: 'exited', exitCode: 0, signal: null });
    case 'FAILED': {
      const exit = exitCode === null ? null : parseExitCode(exitCode);
      if (!exit) return null;
      // Slurm says JobLaunchFailure both when the script died of a signal (ExitCode=0:9) and when
      // slurmstepd could not start it (job_fail: 0:1; a missing --output directory: 0:53, an errno).
      if (reason === 'JobLaunchFailure') {
        const sig = Number(exitCode?.split(':')[1] ?? 0);
        if (!(sig > 1 && sig < 32))
          return ended({ kind: 'failed_to_start', message: msg(`ExitCode ${exitCode}`) });
      }
      return ended({ kind: 'exited', ...exit });
    }
    case 'CANCELLED':
      return ended({
        kind: 'removed',
        message: /^by \d+$/.test(detail)
          ? `cancelled ${detail.replace('by', 'by uid')}`
          : msg('cancelled'),
      });
    case 'REVOKED':
      return ended({
        kind: 'removed',
        message: msg('revoked (run on another cluster of the federation)'),
      });
    case 'TIMEOUT':
      return ended({ kind: 'timeout', message: msg('time limit reached') });
    case 'DEADLINE':
      return ended({ kind: 'timeout', message: msg('deadline reached') });
    case 'OUT_OF_MEMORY':
      return ended({ kind: 'out_of_memory', message: msg('memory limit exceeded') });
    case 'NODE_FAIL':
      return ended({ kind: 'lost', message: msg(`node ${node || '?'} failed`) });
    case 'PREEMPTED':
      return ended({ kind: 'lost', message: msg('preempted') });
    case 'BOOT_FAIL':
      return ended({ kind: 'failed_to_start', message: msg('node boot failed') });
    default:
      return ended({ kind: 'failed_to_start', message: msg('unrecognised Slurm state') });
  }
}

export class SlurmBatch implements BatchSystem {
  readonly kind = 'slurm' as const;
  /** Learnt on the first sacct: the site keeps no accounting database, read the jobcomp file (sacct -c). */
  private jobcompOnly = false;

  constructor(private readonly o: SlurmBatchOptions) {}

  /** Runs a tool; resolves with its exit code, stdout and stderr (code null: it could not run or timed out). */
  run(tool: string, args: string[]): Promise<ToolResult> {
    const cmd = this.o.bin ? path.join(this.o.bin, tool) : tool;
    const env = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', ...this.o.env };
    return new Promise((resolve) => {
      execFile(
        cmd,
        args,
        {
          env,
          timeout: this.o.toolTimeoutMs ?? 30_000,
          killSignal: 'SIGKILL',
          maxBuffer: 64 * 1024 * 1024,
        },
        (err, stdout, stderr) => {
          if (!err) return resolve({ code: 0, stdout, stderr });
          const e = err as NodeJS.ErrnoException & { code?: unknown; killed?: boolean };
          const code = typeof e.code === 'number' ? e.code : null;
          const why =
            code === null
              ? e.killed
                ? `timed out after ${this.o.toolTimeoutMs ?? 30_000} ms`
                : e.message
              : '';
          resolve({
            code,
            stdout: String(stdout),
            stderr: [String(stderr).trim(), why].filter(Boolean).join('; '),
          });
        },
      );
    });
  }

  private async must(tool: string, args: string[]): Promise<ToolResult> {
    const r = await this.run(tool, args);
    if (r.code !== 0) throw toolError(tool, args, r);
    return r;
  }

  async submit(spec: BatchSpec): Promise<string> {
    const script = path.join(spec.workDir, scriptName(spec));
    await fsp.mkdir(spec.workDir, { recursive: true });
    await fsp.writeFile(script, batchScript(spec), { mode: 0o700 });
    await fsp.chmod(script, 0o700);
    const args = sbatchArgs(spec, script, this.o);
    const r = await this.must('sbatch', args);
    const id = parseSbatch(r.stdout);
    if (!id)
      throw new Error(
        `sbatch printed no job id: ${JSON.stringify(r.stdout.trim())} ${r.stderr.trim()}`,
      );
    return id;
  }

  async status(
    jobs: ReadonlyArray<{ id: string; spec: BatchSpec }>,
  ): Promise<Map<string, BatchStatus>> {
    const out = new Map<string, BatchStatus>();
    const ids = [...new Set(jobs.map((j) => j.id))];
    if (ids.length === 0) return out;
    const rows = new Map<string, SqueueRow>();
    for (const chunk of chunks(ids))
      for (const row of await this.squeue(['-j', chunk.join(',')])) rows.set(row.id, row);

    const failed: SqueueRow[] = [];
    const forgotten: string[] = [];
    for (const id of ids) {
      const row = rows.get(id);
      if (!row) {
        forgotten.push(id);
        continue;
      }
      const s = mapState(row.state, row.reason, row.node, row.state === 'COMPLETED' ? '0:0' : null);
      if (s) out.set(id, s);
      else failed.push(row);
    }
    // The exit codes squeue does not print: one scontrol a FAILED job, the jobs aged out meanwhile to sacct.
    await Promise.all(
      failed.map(async (row) => {
        const r = await this.run('scontrol', ['-o', 'show', 'job', row.id]);
        const f = r.code === 0 ? parseScontrol(r.stdout) : {};
        const s = f.JobState
          ? mapState(f.JobState, f.Reason ?? row.reason, f.NodeList ?? row.node, f.ExitCode ?? null)
          : null;
        if (s) out.set(row.id, s);
        else if (r.code === 0 || /invalid job id/i.test(r.stderr)) forgotten.push(row.id);
        else throw toolError('scontrol', ['-o', 'show', 'job', row.id], r);
      }),
    );
    if (forgotten.length > 0) {
      const acct = await this.sacct(forgotten);
      for (const id of forgotten) {
        const row = acct.get(id);
        const s = row ? mapState(row.state, '', row.node, row.exitCode, row.detail) : null;
        out.set(
          id,
          s ??
            (row
              ? { state: 'ended', end: { kind: 'exited', exitCode: null, signal: null } }
              : { state: 'unknown' }),
        );
      }
    }
    return out;
  }

  async cancel(id: string): Promise<void> {
    const r = await this.run('scancel', [id]);
    if (r.code === 0) return;
    if (/invalid job id|already completing or completed|job has already finished/i.test(r.stderr))
      return;
    throw toolError('scancel', [id], r);
  }

  async find(spec: BatchSpec): Promise<string | null> {
    const r = await this.must('squeue', ['-h', '-t', 'all', '-n', spec.name, '-o', '%i|%k']);
    const want = attemptComment(spec.attempt);
    let best: string | null = null;
    for (const line of r.stdout.split('\n')) {
      const bar = line.indexOf('|');
      if (bar < 0) continue;
      const id = line.slice(0, bar).trim();
      const comment = line.slice(bar + 1).trim();
      if (/^\d+$/.test(id) && comment === want && (best === null || Number(id) > Number(best)))
        best = id;
    }
    return best;
  }

  private async squeue(select: string[]): Promise<SqueueRow[]> {
    const args = ['-h', '-t', 'all', ...select, '-o', '%i|%T|%r|%N'];
    const r = await this.run('squeue', args);
    if (r.code === 0) return parseSqueue(r.stdout);
    // A single id slurmctld no longer knows is an error to squeue (several are just left out).
    if (/invalid job id specified/i.test(r.stderr)) return [];
    throw toolError('squeue', args, r);
  }

  private async sacct(ids: string[]): Promise<Map<string, SacctRow>> {
    const rows = new Map<string, SacctRow>();
    for (const chunk of chunks(ids)) {
      const args = [
        '-j',
        chunk.join(','),
        '-X',
        '-n',
        '--parsable2',
        '-o',
        'JobID,State,ExitCode,NodeList',
      ];
      let r = await this.run('sacct', this.jobcompOnly ? ['-c', ...args] : args);
      if (r.code !== 0 && !this.jobcompOnly && /accounting storage is disabled/i.test(r.stderr)) {
        this.jobcompOnly = true;
        r = await this.run('sacct', ['-c', ...args]);
      }
      if (r.code !== 0) throw toolError('sacct', this.jobcompOnly ? ['-c', ...args] : args, r);
      for (const [id, row] of parseSacct(r.stdout)) rows.set(id, row);
    }
    return rows;
  }
}

function chunks<T>(xs: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += CHUNK) out.push(xs.slice(i, i + CHUNK));
  return out;
}

function toolError(tool: string, args: string[], r: ToolResult): Error {
  const what = r.code === null ? 'could not run' : `exited ${r.code}`;
  return new Error(
    `${tool} ${args.join(' ')} ${what}: ${r.stderr.trim() || r.stdout.trim() || '(no output)'}`,
  );
}
