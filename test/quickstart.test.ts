/**
 * A new user's first minutes, on a fresh clone of this checkout's HEAD (so it
 * checks what is committed): the quick start installs with `npm ci` (no npm
 * error output), builds, starts the API and a worker and runs the demo;
 * `git status` stays clean; `npm run demo` works against the running service;
 * `quickstart.sh stop` returns only when both processes have ended.
 *
 * The clone gets its own database, Redis prefix, exchanges and port, so it
 * runs beside other suites; it needs the npm cache (or the registry) for
 * `npm ci`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '@wfs/config';
import { isolatedEnv, removeTraces } from '@wfs/testing';

const REPO = path.resolve(__dirname, '..');
let clone: string;
let env: Record<string, string>;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function sh(
  args: string[],
  timeoutMs: number,
  extra: Record<string, string> = {},
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(args[0] as string, args.slice(1), {
      cwd: clone,
      env: { ...env, ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const pidOf = (role: string) =>
  Number(fs.readFileSync(path.join(clone, 'var', `${role}.pid`), 'utf8'));

beforeAll(async () => {
  clone = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-quickstart-')), 'wfs');
  const cloned = spawnSync('git', ['clone', '--quiet', '--no-hardlinks', REPO, clone], {
    encoding: 'utf8',
  });
  if (cloned.status !== 0) throw new Error(`git clone: ${cloned.stderr}`);
  const id = `q${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const isolated = isolatedEnv(id, path.join(clone, 'var'));
  // The quick start's own defaults: its data under ./var, its demo tokens.
  delete isolated.WFS_DATA_ROOT;
  delete isolated.WFS_API_TOKENS;
  env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? os.homedir(),
    ...isolated,
    PORT: String(await freePort()),
  };
});

afterAll(async () => {
  if (!clone) return;
  for (const role of ['api', 'worker']) {
    const file = path.join(clone, 'var', `${role}.pid`);
    if (fs.existsSync(file)) {
      const pid = Number(fs.readFileSync(file, 'utf8'));
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  }
  await removeTraces(
    loadConfig({ ...env, WFS_DATA_ROOT: path.join(clone, 'var') }),
    path.dirname(clone),
  );
});

test('a fresh clone: the quick start installs with npm ci quietly, runs the demo, leaves git status clean; npm run demo works; stop waits', async () => {
  const start = await sh(['bash', 'scripts/quickstart.sh'], 280_000);
  if (start.code !== 0) throw new Error(`quickstart failed:\n${start.out}`);
  expect(start.out).not.toMatch(/npm (ERR|error|warn)/i);
  expect(start.out).toMatch(/run \d+: complete, QA awaiting, disk qa/);

  const status = spawnSync('git', ['status', '--porcelain', '--ignore-submodules'], {
    cwd: clone,
    encoding: 'utf8',
  });
  expect(status.stdout).toBe('');

  const demo = await sh(['npm', 'run', 'demo', '--silent'], 60_000, {
    WFS_URL: `http://127.0.0.1:${env.PORT}`,
  });
  expect(demo.code).toBe(0);
  expect(demo.out).toMatch(/run \d+: complete/);

  const pids = [pidOf('api'), pidOf('worker')];
  expect(pids.every(alive)).toBe(true);
  const stop = await sh(['bash', 'scripts/quickstart.sh', 'stop'], 60_000);
  expect(stop.code).toBe(0);
  expect(stop.out.trim()).toBe(`stopped api (pid ${pids[0]}) worker (pid ${pids[1]})`);
  // When it says stopped, both processes are gone.
  expect(pids.filter(alive)).toEqual([]);
  const again = await sh(['bash', 'scripts/quickstart.sh', 'stop'], 10_000);
  expect(again.out.trim()).toBe('not running (no var/api.pid or var/worker.pid)');
}, 400_000);
