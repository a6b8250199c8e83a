/**
 * The HTCondor adapter against the one-machine fake HTCondor of
 * test/fixtures/condor (condor_submit, condor_rm, condor_hold,
 * condor_release): HTCondor itself is not packaged for Debian 12 and refuses
 * to run as root. One test runs against a real pool when condor_submit is on
 * PATH (and is not the stand-in); otherwise it is reported as skipped.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { BatchSpec, BatchStatus } from '../libs/execution/src/batch/batch-system';
import { HtcondorBatch, submitFileOf } from '../libs/execution/src/batch/htcondor';

const BIN = path.join(__dirname, 'fixtures/condor');
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let root: string;
let state: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-htcondor-'));
  state = path.join(root, 'state');
  fs.mkdirSync(path.join(root, 'logs'));
  fs.mkdirSync(path.join(root, 'work dir'));
});
afterAll(() => {
  // Nothing of the fake pool outlives the tests.
  const jobs = path.join(state, 'jobs');
  for (const f of fs.existsSync(jobs) ? fs.readdirSync(jobs) : []) {
    if (!f.endsWith('.json')) continue;
    const job = JSON.parse(fs.readFileSync(path.join(jobs, f), 'utf8')) as {
      pgid: number | null;
      shadowPid: number | null;
    };
    for (const pid of [job.pgid ? -job.pgid : null, job.shadowPid]) {
      try {
        if (pid) process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  fs.rmSync(root, { recursive: true, force: true });
});

const toolEnv = (extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  WFS_FAKE_CONDOR_STATE: state,
  ...extra,
});
const adapter = (extra: Record<string, string> = {}) =>
  new HtcondorBatch({
    bin: BIN,
    submitExtra: [['accounting_group', 'group_wfs.test']],
    env: toolEnv(extra),
  });

let seq = 0;
function spec(over: Partial<BatchSpec>): BatchSpec {
  const job = `j${++seq}`;
  return {
    name: `wfs-1-${job}-0`,
    runId: 1,
    job,
    index: 0,
    attempt: 1,
    executable: '/bin/sh',
    args: ['-c', 'exit 0'],
    env: { LANG: 'C' },
    cwd: path.join(root, 'work dir'),
    stdoutPath: path.join(root, 'logs', `${job}.0.out`),
    stderrPath: path.join(root, 'logs', `${job}.0.err`),
    workDir: path.join(root, 'logs'),
    cpus: 1,
    memoryMb: 256,
    gpus: 0,
    labels: [],
    timeoutSeconds: 600,
    ...over,
  };
}

/** Polls the adapter until `done` holds: every status seen. */
async function until(
  b: HtcondorBatch,
  id: string,
  s: BatchSpec,
  done: (st: BatchStatus) => boolean,
  ms = 20_000,
): Promise<BatchStatus[]> {
  const seen: BatchStatus[] = [];
  const end = Date.now() + ms;
  for (;;) {
    const st = (await b.status([{ id, spec: s }])).get(id)!;
    if (seen.length === 0 || JSON.stringify(seen[seen.length - 1]) !== JSON.stringify(st))
      seen.push(st);
    if (done(st)) return seen;
    if (Date.now() > end)
      throw new Error(
        `${id}: still ${JSON.stringify(st)} after ${ms} ms (saw ${JSON.stringify(seen)})`,
      );
    await sleep(50);
  }
}
const ended = (st: BatchStatus) => st.state === 'ended';
const last = <T>(a: T[]) => a[a.length - 1];

const NASTY_ARGS = ['two words', "it's", 'say "hi"', '$(x)', '', "a'b c", 'cost $$5', '\ttab', 'é'];
const NASTY_ENV = { LANG: 'C', MSG: 'a b', Q: `x"y'z`, D: '$(HOME)', EMPTY: '', P: '$$(Memory)' };

describe('HTCondor adapter against the fake HTCondor', () => {
  test('a job runs with exactly its environment and arguments, and ends exited 0', async () => {
    const b = adapter();
    const out = path.join(root, 'work dir', 'seen.json');
    const code = [
      'const fs = require("fs");',
      'fs.writeFileSync(process.argv[1], JSON.stringify({ argv: process.argv.slice(2), env: process.env, cwd: process.cwd() }));',
      'console.log("to stdout"); console.error("to stderr");',
      'setTimeout(() => {}, 700);',
    ].join(' ');
    const s = spec({
      executable: process.execPath,
      args: ['-e', code, out, ...NASTY_ARGS],
      env: NASTY_ENV,
    });
    expect(await b.find(s)).toBeNull();
    const id = await b.submit(s);
    expect(id).toMatch(/^\d+\.0$/);
    expect(fs.readFileSync(submitFileOf(s), 'utf8')).toContain(
      'accounting_group = group_wfs.test\nqueue 1\n',
    );
    expect(await b.find(s)).toBe(id);

    const seen = await until(b, id, s, ended);
    expect(seen).toContainEqual({ state: 'running', node: os.hostname() });
    expect(last(seen)).toEqual({
      state: 'ended',
      end: { kind: 'exited', exitCode: 0, signal: null },
    });
    const got = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(got.argv).toEqual(NASTY_ARGS);
    expect(got.env).toEqual(NASTY_ENV);
    expect(got.cwd).toBe(s.cwd);
    expect(fs.readFileSync(s.stdoutPath, 'utf8')).toBe('to stdout\n');
    expect(fs.readFileSync(s.stderrPath, 'utf8')).toBe('to stderr\n');
    // Ended stays ended, and a fresh adapter (wfs restarted) reads the same from the log.
    expect((await b.status([{ id, spec: s }])).get(id)).toEqual(last(seen));
    expect((await adapter().status([{ id, spec: s }])).get(id)).toEqual(last(seen));
  });

  test('exit 3 is exited 3; several jobs in one status round', async () => {
    const b = adapter();
    const s3 = spec({ args: ['-c', 'exit 3'] });
    const s0 = spec({ args: ['-c', 'exit 0'] });
    const [id3, id0] = [await b.submit(s3), await b.submit(s0)];
    expect(id3).not.toBe(id0);
    await until(b, id3, s3, ended);
    await until(b, id0, s0, ended);
    const all = await b.status([
      { id: id3, spec: s3 },
      { id: id0, spec: s0 },
    ]);
    expect(all.get(id3)).toEqual({
      state: 'ended',
      end: { kind: 'exited', exitCode: 3, signal: null },
    });
    expect(all.get(id0)).toEqual({
      state: 'ended',
      end: { kind: 'exited', exitCode: 0, signal: null },
    });
  });

  test('killed by a signal: exited with the signal name', async () => {
    const b = adapter();
    const s = spec({ args: ['-c', 'kill -KILL $$'] });
    const id = await b.submit(s);
    expect(last(await until(b, id, s, ended))).toEqual({
      state: 'ended',
      end: { kind: 'exited', exitCode: null, signal: 'SIGKILL' },
    });
  });

  test('cancel: condor_rm, 009, removed; cancelling again is not an error', async () => {
    const b = adapter();
    const s = spec({ args: ['-c', 'sleep 30'] });
    const id = await b.submit(s);
    await until(b, id, s, (st) => st.state === 'running');
    await b.cancel(id);
    expect(last(await until(b, id, s, ended))).toEqual({
      state: 'ended',
      end: { kind: 'removed', message: `via condor_rm (by user ${os.userInfo().username})` },
    });
    await expect(b.cancel(id)).resolves.toBeUndefined();
    await expect(b.cancel('999999.0')).resolves.toBeUndefined();
    await expect(b.cancel('-all')).rejects.toThrow(/not an HTCondor job id/);
  });

  test('condor_hold: held with its reason and code; condor_release: it runs again', async () => {
    const b = adapter();
    const s = spec({ args: ['-c', 'sleep 30'] });
    const id = await b.submit(s);
    await until(b, id, s, (st) => st.state === 'running');
    await run(path.join(BIN, 'condor_hold'), [id], { env: toolEnv() });
    expect(last(await until(b, id, s, (st) => st.state === 'held'))).toEqual({
      state: 'held',
      reason: `via condor_hold (by user ${os.userInfo().username}) (Code 1 Subcode 0)`,
    });
    await run(path.join(BIN, 'condor_release'), [id], { env: toolEnv() });
    await until(b, id, s, (st) => st.state === 'running');
    await b.cancel(id);
    expect(last(await until(b, id, s, ended))).toMatchObject({ end: { kind: 'removed' } });
  });

  test("HTCondor's own time limit (periodic_remove) ends it as a timeout", async () => {
    const b = adapter();
    const s = spec({ args: ['-c', 'sleep 30'], timeoutSeconds: 1 });
    const id = await b.submit(s);
    const end = last(await until(b, id, s, ended));
    expect(end).toMatchObject({ state: 'ended', end: { kind: 'timeout' } });
  });

  test('the JSON event log form, end to end', async () => {
    const b = adapter({ WFS_FAKE_CONDOR_JSON: '1' });
    const s = spec({ args: ['-c', 'sleep 0.3; exit 3'] });
    const id = await b.submit(s);
    expect(fs.readFileSync(path.join(root, 'logs', `${s.job}.0.a1.log`), 'utf8')).toMatch(
      /^{\n {2}"EventTypeNumber": 0,/,
    );
    const seen = await until(b, id, s, ended);
    expect(seen).toContainEqual({ state: 'running', node: os.hostname() });
    expect(last(seen)).toEqual({
      state: 'ended',
      end: { kind: 'exited', exitCode: 3, signal: null },
    });
    expect(await b.find(s)).toBe(id);
  });

  test('labels the machine lacks: the job stays pending', async () => {
    const b = adapter({ WFS_FAKE_CONDOR_LABELS: 'casa' });
    const ok = spec({ labels: ['casa'] });
    const lacking = spec({ labels: ['casa', 'lustre'], args: ['-c', 'exit 0'] });
    const [idOk, idLacking] = [await b.submit(ok), await b.submit(lacking)];
    await until(b, idOk, ok, ended);
    expect((await b.status([{ id: idLacking, spec: lacking }])).get(idLacking)).toEqual({
      state: 'pending',
    });
    await b.cancel(idLacking);
    expect(last(await until(b, idLacking, lacking, ended))).toMatchObject({
      end: { kind: 'removed' },
    });
  });

  test("a refused submission throws with the tool's own message", async () => {
    const b = adapter();
    await expect(b.submit(spec({ cwd: 'relative/dir' }))).rejects.toThrow(
      /condor_submit .* failed \(exit 1\): .*initialdir relative\/dir is not absolute/,
    );
    await expect(b.submit(spec({ args: ['a\nb'] }))).rejects.toThrow(/argument 1 holds a newline/);
  });
});

/** condor_submit on PATH that is a real HTCondor's, not this test's stand-in. */
function realCondor(): string | null {
  try {
    const p = execFileSync('sh', ['-c', 'command -v condor_submit'], { encoding: 'utf8' }).trim();
    return p && !fs.realpathSync(p).startsWith(fs.realpathSync(BIN)) ? p : null;
  } catch {
    return null;
  }
}
const real = realCondor();
if (!real)
  console.info('htcondor-adapter: no real HTCondor on PATH; the real-pool test is not run');

describe('HTCondor adapter against a real pool', () => {
  (real ? test : test.skip)(
    'a job runs and ends exited 0 (real condor_submit on PATH)',
    async () => {
      // The run's directories must be on a file system the execute nodes share.
      const shared = process.env.WFS_TEST_CONDOR_SHARED_DIR ?? root;
      const dir = fs.mkdtempSync(path.join(shared, 'wfs-real-condor-'));
      const b = new HtcondorBatch({
        bin: null,
        submitExtra: [],
        env: process.env as Record<string, string>,
      });
      const s = spec({
        executable: '/bin/sh',
        args: ['-c', 'echo "$MSG" "$1"', 'sh', "it's $(x)"],
        env: { MSG: 'a b' },
        cwd: dir,
        workDir: dir,
        stdoutPath: path.join(dir, 'out'),
        stderrPath: path.join(dir, 'err'),
        timeoutSeconds: 600,
      });
      const id = await b.submit(s);
      expect(await b.find(s)).toBe(id);
      expect(last(await until(b, id, s, ended, 15 * 60_000))).toEqual({
        state: 'ended',
        end: { kind: 'exited', exitCode: 0, signal: null },
      });
      expect(fs.readFileSync(s.stdoutPath, 'utf8')).toBe("a b it's $(x)\n");
    },
    20 * 60_000,
  );
});
