/**
 * The HTCondor adapter of the batch-system port (WFS_EXECUTOR=htcondor).
 *
 * One attempt is one submit description and one job event log, both in the
 * spec's workDir and named from the spec alone:
 *   <workDir>/<job>.<index>.a<attempt>.sub   what condor_submit is given
 *   <workDir>/<job>.<index>.a<attempt>.log   the job event log HTCondor writes
 * State comes from the event log, read incrementally (never condor_q): HTCondor
 * writes every transition there, and it survives the job leaving the queue.
 *
 * Formats followed (HTCondor's manual, condor_submit(1) and the configuration
 * reference; its sources src/condor_utils/condor_arglist.cpp,
 * condor_event.cpp, write_user_log.cpp, src/classad/jsonSink.cpp):
 * - `arguments` and `environment` in the "new" (V2) syntax: the whole value
 *   in double quotes, a literal `"` doubled; inside, whitespace separates,
 *   single quotes group, a literal `'` is doubled inside a quoted section.
 * - `$` is macro syntax in a submit description (`$(name)` at submit time,
 *   `$$(attr)` at match time): a literal `$` is written `$(DOLLAR)`, a
 *   literal `$$` `$$(DOLLARDOLLAR)`.
 * - Event log, classic text: `NNN (cluster.proc.subproc) date time text`,
 *   body lines, and a line `...`; dates `MM/DD HH:MM:SS` (before 8.9.x, and
 *   with `LEGACY`) or `YYYY-MM-DD HH:MM:SS` with optional `.mmm` (SUB_SECOND)
 *   and `Z` (UTC). JSON (DEFAULT_USERLOG_FORMAT_OPTIONS = JSON): one
 *   ClassAd per event, unparsed as a multi-line JSON object and a newline, no
 *   `...` (tolerated if present).
 *
 * Decisions: labels become `stringListMember("<label>", TARGET.WfsLabels)`
 * (the execute node advertises e.g. `WfsLabels = "casa,lustre"` through
 * STARTD_ATTRS; wfs labels never hold commas or spaces). An eviction (004), a
 * failed reconnect (024) end the attempt as `lost` (WORKFLOWS: evicted ->
 * retried): wfs retries and removes the old job, rather than letting HTCondor
 * run it again behind its back. Terminal states are sticky: what follows a
 * 004/005/009 for the same id is not read as a new life of the attempt.
 */
import { execFile } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { BatchEnd, BatchSpec, BatchStatus, BatchSystem } from './batch-system';

export interface HtcondorOptions {
  /** WFS_CONDOR_BIN: the directory of the condor_* tools, or null to find them on PATH. */
  bin: string | null;
  /** Validated WFS_CONDOR_SUBMIT_EXTRA lines (parseSubmitExtra), written before `queue`. */
  submitExtra: ReadonlyArray<readonly [string, string]>;
  /** The environment the condor tools run with (CONDOR_CONFIG, PATH...). */
  env: Record<string, string>;
}

const TOOL_TIMEOUT_MS = 120_000;
const JOB_ID = /^\d+\.\d+$/;

// ---------------------------------------------------------------------------
// Quoting

/** Refuses what a line-based submit description cannot carry. */
function refuseUnwritable(what: string, s: string): void {
  if (/[\n\r\0]/.test(s)) {
    throw new Error(
      `${what} holds a newline, carriage return or NUL: HTCondor's submit description cannot carry it`,
    );
  }
}

/**
 * A value as a submit description gives it back literally: every `$` run is
 * written with HTCondor's own escapes, `$$(DOLLARDOLLAR)` for each pair (so
 * the match-time `$$(...)` pass sees no `$$(`) and `$(DOLLAR)` for an odd one.
 */
export function submitLiteral(s: string): string {
  return s.replace(
    /\$+/g,
    (run) => '$$(DOLLARDOLLAR)'.repeat(run.length >> 1) + (run.length & 1 ? '$(DOLLAR)' : ''),
  );
}

/** One token of a V2 raw list: single-quoted when it holds whitespace or a `'` (then doubled). */
function v2Token(s: string): string {
  if (s === '') return "''";
  return /[ \t']/.test(s) ? `'${s.replace(/'/g, "''")}'` : s;
}

/** A V2 raw list, double-quoted as the submit language wants it (`"` doubled). */
function v2Quoted(tokens: string[]): string {
  return `"${tokens.map(v2Token).join(' ').replace(/"/g, '""')}"`;
}

/** `arguments = ...` value in the new syntax (before `$` escaping). */
export function argumentsValue(args: readonly string[]): string {
  args.forEach((a, i) => refuseUnwritable(`argument ${i + 1}`, a));
  return v2Quoted([...args]);
}

/** `environment = ...` value in the new syntax (before `$` escaping). */
export function environmentValue(env: Readonly<Record<string, string>>): string {
  const entries = Object.entries(env).map(([k, v]) => {
    if (k === '' || k.includes('='))
      throw new Error(`environment variable name ${JSON.stringify(k)} is not NAME`);
    refuseUnwritable(`environment variable ${k}`, k);
    refuseUnwritable(`the value of environment variable ${k}`, v);
    return `${k}=${v}`;
  });
  return v2Quoted(entries);
}

/** A ClassAd string literal. */
function classadString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A path as a submit command's value: whole, literal, not trimmed away. */
function pathValue(what: string, p: string): string {
  refuseUnwritable(what, p);
  if (p !== p.trim() || p.endsWith('\\') || p === '') {
    throw new Error(`${what} ${JSON.stringify(p)} starts or ends with white space or a backslash`);
  }
  return submitLiteral(p);
}

// ---------------------------------------------------------------------------
// WFS_CONDOR_SUBMIT_EXTRA

/** Submit commands (and job attributes) wfs writes itself: an extra line may not set them. */
const RESERVED_COMMANDS = new Set(
  [
    'universe',
    'executable',
    'arguments',
    'args',
    'environment',
    'env',
    'getenv',
    'log',
    'log_xml',
    'output',
    'error',
    'initialdir',
    'initial_dir',
    'iwd',
    'queue',
    'request_cpus',
    'request_memory',
    'request_gpus',
    'requirements',
    'periodic_remove',
    'should_transfer_files',
    'batch_name',
  ].map((k) => k.toLowerCase()),
);
const RESERVED_ATTRIBUTES = new Set(
  [
    'Cmd',
    'Args',
    'Arguments',
    'Env',
    'Environment',
    'Iwd',
    'Out',
    'Err',
    'UserLog',
    'Requirements',
    'RequestCpus',
    'RequestMemory',
    'RequestGpus',
    'PeriodicRemove',
    'JobUniverse',
    'ShouldTransferFiles',
    'JobBatchName',
    'GetEnv',
  ].map((k) => k.toLowerCase()),
);
const EXTRA_KEY = /^[A-Za-z+][A-Za-z0-9_.+]*$/;

/**
 * Parses WFS_CONDOR_SUBMIT_EXTRA: one submit command `key = value` per line
 * (newline-separated: `;` is an ordinary character of many values, e.g.
 * requirements or the old environment syntax). Blank lines and lines starting
 * with `#` are skipped. Keys are HTCondor's (`[A-Za-z+][A-Za-z0-9_.+]*`, so
 * `+Attr` and `MY.Attr` job attributes too); keys wfs sets itself, and any
 * `Wfs*` attribute, are refused. Values are written as given (macros work).
 * Throws an Error naming the bad line.
 */
export function parseSubmitExtra(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const bad = (why: string) =>
      new Error(`WFS_CONDOR_SUBMIT_EXTRA line ${i + 1} (${JSON.stringify(raw)}): ${why}`);
    const eq = line.indexOf('=');
    if (eq < 0) throw bad('not `key = value`');
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (!EXTRA_KEY.test(key))
      throw bad(`key ${JSON.stringify(key)} is not [A-Za-z+][A-Za-z0-9_.+]*`);
    if (/[\r\0]/.test(value)) throw bad('the value holds a carriage return or NUL');
    if (value.endsWith('\\')) throw bad('the value ends with a backslash (a line continuation)');
    if (value.startsWith('@')) throw bad('multi-line values (`@=`) are not supported');
    const attr = key.startsWith('+') ? key.slice(1) : /^my\./i.test(key) ? key.slice(3) : null;
    const lower = (attr ?? key).toLowerCase();
    if (attr === '' || (attr !== null && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(attr))) {
      throw bad(`job attribute ${JSON.stringify(attr)} is not a ClassAd attribute name`);
    }
    if (
      lower.startsWith('wfs') ||
      RESERVED_ATTRIBUTES.has(lower) ||
      (attr === null && RESERVED_COMMANDS.has(lower))
    ) {
      throw bad(`${key} is set by wfs itself`);
    }
    out.push([key, value]);
  });
  return out;
}

// ---------------------------------------------------------------------------
// Submit description

/** The attempt's file stem, derivable from the spec alone. */
export function attemptStem(spec: BatchSpec): string {
  return path.join(spec.workDir, `${spec.job}.${spec.index}.a${spec.attempt}`);
}
export const submitFileOf = (spec: BatchSpec): string => `${attemptStem(spec)}.sub`;
export const eventLogOf = (spec: BatchSpec): string => `${attemptStem(spec)}.log`;

/** `requirements` from the labels (null when there are none). */
export function labelRequirements(labels: readonly string[]): string | null {
  if (labels.length === 0) return null;
  return labels.map((l) => `stringListMember(${classadString(l)}, TARGET.WfsLabels)`).join(' && ');
}

/** The submit description of one attempt, exactly as written to its .sub file. */
export function submitDescription(
  spec: BatchSpec,
  extra: ReadonlyArray<readonly [string, string]> = [],
): string {
  const lines: string[] = [
    `# wfs run ${spec.runId}, ${spec.job}[${spec.index}], attempt ${spec.attempt}: written by wfs for condor_submit -terse`,
    'universe = vanilla',
    `executable = ${pathValue('the executable', spec.executable)}`,
    `arguments = ${submitLiteral(argumentsValue(spec.args))}`,
    `initialdir = ${pathValue('the working directory', spec.cwd)}`,
    `output = ${pathValue('the stdout path', spec.stdoutPath)}`,
    `error = ${pathValue('the stderr path', spec.stderrPath)}`,
    `log = ${pathValue('the event log path', eventLogOf(spec))}`,
    'getenv = false',
    `environment = ${submitLiteral(environmentValue(spec.env))}`,
    'should_transfer_files = NO',
    `request_cpus = ${Math.max(1, Math.ceil(spec.cpus))}`,
    `request_memory = ${Math.max(1, Math.ceil(spec.memoryMb))}`,
  ];
  if (spec.gpus > 0) lines.push(`request_gpus = ${Math.ceil(spec.gpus)}`);
  const req = labelRequirements(spec.labels);
  if (req !== null) lines.push(`requirements = ${submitLiteral(req)}`);
  if (spec.timeoutSeconds > 0 && Number.isFinite(spec.timeoutSeconds)) {
    lines.push(
      `periodic_remove = (JobStatus == 2) && (time() - EnteredCurrentStatus > ${Math.ceil(spec.timeoutSeconds)})`,
    );
  }
  lines.push(
    `batch_name = ${submitLiteral(spec.name)}`,
    `+WfsRunId = ${Math.trunc(spec.runId)}`,
    `+WfsJob = ${submitLiteral(classadString(`${spec.job}[${spec.index}]`))}`,
    `+WfsAttempt = ${Math.trunc(spec.attempt)}`,
  );
  for (const [k, v] of extra) lines.push(`${k} = ${v}`);
  lines.push('queue 1', '');
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// Job event log

/** One event of the job event log, as far as wfs reads it. */
export type CondorEvent = { id: string; code: number } & (
  | { type: 'submitted' }
  | { type: 'executing'; host: string | null }
  | { type: 'executable_error'; message: string }
  | { type: 'evicted'; reason: string | null }
  | { type: 'terminated'; exitCode: number | null; signal: number | null }
  | { type: 'shadow_exception'; message: string | null }
  | { type: 'aborted'; reason: string | null }
  | { type: 'held'; reason: string | null; holdCode: number | null; holdSubcode: number | null }
  | { type: 'released' }
  | { type: 'reconnect_failed'; reason: string | null }
  | { type: 'other' }
);

const TEXT_HEADER =
  /^(\d{3}) \((\d+)\.(\d+)\.(\d+)\) (?:\d\d\/\d\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)? ?(.*)$/;

const idOf = (cluster: string | number, proc: string | number) =>
  `${Number(cluster)}.${Number(proc)}`;

/**
 * The execute node's name: the host of the slot name (`slot1_1@node7`), else
 * the `alias=` of the sinful string (`<10.0.0.7:9618?addrs=...&alias=node7>`),
 * else its address.
 */
export function nodeOf(sinful: string | null, slotName: string | null): string | null {
  if (slotName && slotName.includes('@')) return slotName.slice(slotName.lastIndexOf('@') + 1);
  if (!sinful) return slotName;
  const alias = /[?&]alias=([^&>]+)/.exec(sinful);
  if (alias) return alias[1];
  const addr = /^<([^:?>]+)/.exec(sinful);
  return addr ? addr[1] : sinful;
}

/** Body lines without their leading tab(s). */
const bodyText = (l: string) => l.replace(/^\s+/, '').replace(/\s+$/, '');

function textEvent(code: number, id: string, message: string, body: string[]): CondorEvent {
  const lines = body.map(bodyText).filter((l) => l !== '');
  switch (code) {
    case 0:
      return { id, code, type: 'submitted' };
    case 1: {
      const m = /^Job executing on host: (.*)$/.exec(message);
      const slot = lines.find((l) => l.startsWith('SlotName:'));
      const slotName = slot ? slot.slice(9).trim().replace(/^"|"$/g, '') : null;
      return { id, code, type: 'executing', host: nodeOf(m?.[1] ?? null, slotName) };
    }
    case 2:
      return { id, code, type: 'executable_error', message: message || 'executable error' };
    case 4: {
      const reason = lines.find((l) => l.startsWith('Reason: '));
      return { id, code, type: 'evicted', reason: reason ? reason.slice(8) : null };
    }
    case 5: {
      for (const l of lines) {
        const n = /^\(1\) Normal termination \(return value (-?\d+)\)/.exec(l);
        if (n) return { id, code, type: 'terminated', exitCode: Number(n[1]), signal: null };
        const a = /^\(0\) Abnormal termination \(signal (\d+)\)/.exec(l);
        if (a) return { id, code, type: 'terminated', exitCode: null, signal: Number(a[1]) };
      }
      return { id, code, type: 'terminated', exitCode: null, signal: null };
    }
    case 7:
      return { id, code, type: 'shadow_exception', message: lines[0] ?? null };
    case 9:
      return { id, code, type: 'aborted', reason: lines[0] ?? null };
    case 12: {
      let c: number | null = null;
      let s: number | null = null;
      const reasons: string[] = [];
      for (const l of lines) {
        const m = /^Code (-?\d+) Subcode (-?\d+)$/.exec(l);
        if (m) [c, s] = [Number(m[1]), Number(m[2])];
        else if (l !== 'Reason unspecified') reasons.push(l);
      }
      return { id, code, type: 'held', reason: reasons[0] ?? null, holdCode: c, holdSubcode: s };
    }
    case 13:
      return { id, code, type: 'released' };
    case 24:
      return { id, code, type: 'reconnect_failed', reason: lines[0] ?? null };
    default:
      return { id, code, type: 'other' };
  }
}

type Json = Record<string, unknown>;
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const int = (v: unknown): number | null =>
  typeof v === 'number' && Number.isInteger(v) ? v : null;
const bool = (v: unknown): boolean | null =>
  typeof v === 'boolean' ? v : typeof v === 'number' ? v !== 0 : null;

function jsonEvent(ad: Json): CondorEvent | null {
  const code = int(ad.EventTypeNumber);
  const cluster = int(ad.Cluster);
  const proc = int(ad.Proc);
  if (code === null || cluster === null || proc === null) return null;
  const id = idOf(cluster, proc);
  switch (code) {
    case 0:
      return { id, code, type: 'submitted' };
    case 1:
      return { id, code, type: 'executing', host: nodeOf(str(ad.ExecuteHost), str(ad.SlotName)) };
    case 2:
      return { id, code, type: 'executable_error', message: 'executable error' };
    case 4:
      return { id, code, type: 'evicted', reason: str(ad.Reason) };
    case 5: {
      const normal = bool(ad.TerminatedNormally);
      if (normal)
        return { id, code, type: 'terminated', exitCode: int(ad.ReturnValue), signal: null };
      return { id, code, type: 'terminated', exitCode: null, signal: int(ad.TerminatedBySignal) };
    }
    case 7:
      return { id, code, type: 'shadow_exception', message: str(ad.Message) };
    case 9:
      return { id, code, type: 'aborted', reason: str(ad.Reason) };
    case 12:
      return {
        id,
        code,
        type: 'held',
        reason: str(ad.HoldReason),
        holdCode: int(ad.HoldReasonCode),
        holdSubcode: int(ad.HoldReasonSubCode),
      };
    case 13:
      return { id, code, type: 'released' };
    case 24:
      return { id, code, type: 'reconnect_failed', reason: str(ad.Reason) };
    default:
      return { id, code, type: 'other' };
  }
}

/** The end (exclusive) of the JSON object starting at `start`, or -1 if it is not complete yet. */
function jsonObjectEnd(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

/**
 * Parses the complete events at the start of `text` (either form, even
 * mixed). `consumed` is how many characters of `text` they (and the lines
 * between them) take: a last event not yet terminated (text: no `...` line
 * yet; JSON: no closing brace and newline yet) is left unconsumed, to be read
 * again with what follows. Lines that are neither are skipped.
 */
export function parseEventLog(text: string): { events: CondorEvent[]; consumed: number } {
  const events: CondorEvent[] = [];
  let pos = 0;
  for (;;) {
    const nl = text.indexOf('\n', pos);
    if (nl < 0) break; // a line not written to its end yet
    const line = text.slice(pos, nl).replace(/\r$/, '');
    if (line.trim() === '' || line === '...') {
      pos = nl + 1;
      continue;
    }
    if (line.trimStart().startsWith('{')) {
      const start = pos + line.indexOf('{');
      const end = jsonObjectEnd(text, start);
      if (end < 0) break;
      const after = text.indexOf('\n', end);
      if (after < 0) break; // HTCondor ends each object with a newline
      try {
        const ev = jsonEvent(JSON.parse(text.slice(start, end)) as Json);
        if (ev) events.push(ev);
      } catch {
        // not an event of ours: skipped
      }
      pos = after + 1;
      continue;
    }
    const h = TEXT_HEADER.exec(line);
    if (!h) {
      pos = nl + 1; // garbage (or a torn header): skipped
      continue;
    }
    // The event ends at a line `...` (or, if its writer died mid-event, where the next one begins).
    const body: string[] = [];
    let at = nl + 1;
    let done = false;
    for (;;) {
      const e = text.indexOf('\n', at);
      if (e < 0) break; // not terminated yet: read again with what follows
      const l = text.slice(at, e).replace(/\r$/, '');
      if (l === '...') {
        at = e + 1;
        done = true;
        break;
      }
      if (TEXT_HEADER.test(l)) {
        done = true;
        break;
      }
      body.push(l);
      at = e + 1;
    }
    if (!done) break;
    events.push(textEvent(Number(h[1]), idOf(h[2], h[3]), h[5].trim(), body));
    pos = at;
  }
  return { events, consumed: pos };
}

const SIGNAL_NAMES = new Map<number, string>(
  Object.entries(osConstants.signals).map(([name, n]) => [n, name] as [number, string]),
);
/** A signal number as the name Node gives it on this platform (SIGKILL), or `signal N`. */
export const signalName = (n: number): string => SIGNAL_NAMES.get(n) ?? `signal ${n}`;

/** What an attempt's events say so far. `ended` is sticky. */
export function applyEvent(
  state: BatchStatus,
  ev: CondorEvent,
  lastHost: string | null = null,
): BatchStatus {
  if (state.state === 'ended') return state;
  const end = (e: BatchEnd): BatchStatus => ({ state: 'ended', end: e });
  switch (ev.type) {
    case 'submitted':
      return state.state === 'pending' ? state : { state: 'pending' };
    case 'executing':
      return ev.host ? { state: 'running', node: ev.host } : { state: 'running' };
    case 'executable_error':
      return end({ kind: 'failed_to_start', message: ev.message });
    case 'evicted': {
      const host = state.state === 'running' ? state.node : lastHost;
      return end({
        kind: 'lost',
        message: `evicted${host ? ` from ${host}` : ''}${ev.reason ? `: ${ev.reason}` : ''}`,
      });
    }
    case 'reconnect_failed':
      return end({
        kind: 'lost',
        message: `HTCondor lost the job's execute node${ev.reason ? `: ${ev.reason}` : ''}`,
      });
    case 'terminated':
      return end({
        kind: 'exited',
        exitCode: ev.exitCode,
        signal: ev.signal === null ? null : signalName(ev.signal),
      });
    case 'shadow_exception':
      return { state: 'pending', reason: `shadow exception${ev.message ? `: ${ev.message}` : ''}` };
    case 'aborted': {
      const reason = ev.reason ?? 'removed from the queue';
      if (/PeriodicRemove/.test(reason))
        return end({ kind: 'timeout', message: `HTCondor's time limit: ${reason}` });
      return end({ kind: 'removed', message: reason });
    }
    case 'held': {
      const codes =
        ev.holdCode === null ? '' : ` (Code ${ev.holdCode} Subcode ${ev.holdSubcode ?? 0})`;
      return { state: 'held', reason: `${ev.reason ?? 'Reason unspecified'}${codes}` };
    }
    case 'released':
      return { state: 'pending', reason: 'released' };
    case 'other':
      return state;
  }
}

// ---------------------------------------------------------------------------
// The adapter

interface Cursor {
  log: string;
  /** Bytes of the log consumed (complete events). */
  offset: number;
  state: BatchStatus;
  lastHost: string | null;
}

/** Reads `file` from `offset` to its end; null if it does not exist. */
async function readFrom(
  file: string,
  offset: number,
): Promise<{ text: string; size: number } | null> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const { size } = await fh.stat();
    if (size <= offset) return { text: '', size };
    const buf = Buffer.alloc(size - offset);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return { text: buf.subarray(0, got).toString('utf8'), size };
  } finally {
    await fh.close();
  }
}

export class HtcondorBatch implements BatchSystem {
  readonly kind = 'htcondor' as const;
  /** Per job id: how far its event log has been read, and what it said. */
  private readonly cursors = new Map<string, Cursor>();

  constructor(private readonly options: HtcondorOptions) {
    for (const [k, v] of options.submitExtra) {
      if (!EXTRA_KEY.test(k) || /[\n\r\0]/.test(v))
        throw new Error(`bad WFS_CONDOR_SUBMIT_EXTRA line ${k} = ${v}`);
    }
  }

  private tool(name: string): string {
    return this.options.bin ? path.join(this.options.bin, name) : name;
  }

  /** Runs a condor tool (argument array, no shell): its stdout, stderr and exit status. */
  private run(
    name: string,
    args: string[],
  ): Promise<{ code: number; stdout: string; stderr: string; error?: Error }> {
    return new Promise((resolve) => {
      execFile(
        this.tool(name),
        args,
        { env: this.options.env, timeout: TOOL_TIMEOUT_MS, maxBuffer: 4 << 20, encoding: 'utf8' },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
          resolve({ code, stdout, stderr, error: error ?? undefined });
        },
      );
    });
  }

  async submit(spec: BatchSpec): Promise<string> {
    const text = submitDescription(spec, this.options.submitExtra);
    const file = submitFileOf(spec);
    await fs.mkdir(spec.workDir, { recursive: true });
    await fs.writeFile(file, text, { mode: 0o644 });
    const r = await this.run('condor_submit', ['-terse', file]);
    const m = /^\s*(\d+)\.(\d+) - \d+\.\d+\s*$/m.exec(r.stdout);
    if (r.code !== 0 || !m) {
      const said = (r.stderr.trim() || r.stdout.trim() || r.error?.message || 'no output').slice(
        0,
        2000,
      );
      throw new Error(`condor_submit ${file} failed (exit ${r.code}): ${said}`);
    }
    const id = idOf(m[1], m[2]);
    this.cursors.delete(id);
    return id;
  }

  async status(
    jobs: ReadonlyArray<{ id: string; spec: BatchSpec }>,
  ): Promise<Map<string, BatchStatus>> {
    const out = new Map<string, BatchStatus>();
    await Promise.all(
      jobs.map(async ({ id, spec }) => {
        out.set(id, await this.statusOf(id, spec));
      }),
    );
    return out;
  }

  private async statusOf(id: string, spec: BatchSpec): Promise<BatchStatus> {
    const log = eventLogOf(spec);
    let cur = this.cursors.get(id);
    if (!cur || cur.log !== log) {
      cur = { log, offset: 0, state: { state: 'pending' }, lastHost: null };
      this.cursors.set(id, cur);
    }
    let read = await readFrom(log, cur.offset);
    if (read === null)
      return cur.offset === 0 ? { state: 'pending', reason: 'no job event log yet' } : cur.state;
    if (read.size < cur.offset) {
      // The log was truncated or replaced: read it again from the start.
      Object.assign(cur, { offset: 0, state: { state: 'pending' }, lastHost: null });
      read = await readFrom(log, 0);
      if (read === null) return { state: 'pending', reason: 'no job event log yet' };
    }
    const { events, consumed } = parseEventLog(read.text);
    cur.offset += Buffer.byteLength(read.text.slice(0, consumed), 'utf8');
    for (const ev of events) {
      if (ev.id !== id) continue;
      cur.state = applyEvent(cur.state, ev, cur.lastHost);
      if (ev.type === 'executing' && ev.host) cur.lastHost = ev.host;
    }
    // An ended job's cursor is dropped (the map holds live jobs only): asked
    // again, its log is read from the start, to the same sticky end.
    if (cur.state.state === 'ended') this.cursors.delete(id);
    return cur.state;
  }

  async cancel(id: string): Promise<void> {
    if (!JOB_ID.test(id)) throw new Error(`not an HTCondor job id: ${JSON.stringify(id)}`);
    const r = await this.run('condor_rm', [id]);
    if (r.code === 0) return;
    const said = `${r.stdout}\n${r.stderr}`;
    // Already gone (left the queue) or already being removed: not an error.
    if (/not found|couldn't find|already (?:marked for removal|in the process)/i.test(said)) return;
    throw new Error(
      `condor_rm ${id} failed (exit ${r.code}): ${(said.trim() || r.error?.message || '').slice(0, 2000)}`,
    );
  }

  async find(spec: BatchSpec): Promise<string | null> {
    const read = await readFrom(eventLogOf(spec), 0);
    if (read === null) return null;
    const { events } = parseEventLog(read.text);
    const submitted = events.filter((e) => e.type === 'submitted');
    // The last submission of this attempt is the one a dead submit host left unrecorded.
    if (submitted.length > 0) return submitted[submitted.length - 1].id;
    return events.length > 0 ? events[0].id : null;
  }
}
