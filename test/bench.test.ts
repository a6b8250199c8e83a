import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkEvents, summarize } from '../bench/support';

/**
 * The benchmark code itself (npm run bench): its event checker must catch
 * what it is there to catch, and a tiny e2e run must go through end to end
 * with every event accounted for. No timing is asserted here.
 */
const REPO = path.resolve(__dirname, '..');

const event = (runId: number, sequence: number, type = 'job-completed', messageId?: string) => ({
  body: { runId, sequence, type, messageId: messageId ?? `${runId}-${sequence}` },
});
const clean = (runId: number, n = 4) =>
  Array.from({ length: n }, (_, i) => event(runId, i + 1, i === n - 1 ? 'complete' : 'running'));

describe('bench event checker', () => {
  test('a clean stream passes', () => {
    const r = checkEvents(
      [...clean(1), ...clean(2)] as any,
      new Set([1, 2]),
      new Map([
        [1, 4],
        [2, 4],
      ]),
    );
    expect(r).toMatchObject({
      ok: true,
      events: 8,
      lost: 0,
      duplicates: 0,
      reordered: 0,
      notComplete: 0,
    });
  });

  test('a missing event in the middle is lost', () => {
    const msgs = clean(1).filter((m) => m.body.sequence !== 2);
    expect(checkEvents(msgs as any, new Set([1]), new Map([[1, 4]]))).toMatchObject({
      ok: false,
      lost: 1,
    });
  });

  test('an event the API lists but the consumer never got is lost, even at the end', () => {
    expect(checkEvents(clean(1) as any, new Set([1]), new Map([[1, 5]]))).toMatchObject({
      ok: false,
      lost: 1,
    });
  });

  test('a redelivered message is a duplicate', () => {
    const msgs = [...clean(1), event(1, 2, 'running', '1-2')];
    expect(checkEvents(msgs as any, new Set([1]))).toMatchObject({ ok: false, duplicates: 1 });
  });

  test('out of order is reordered, and a run whose last event is not complete is not complete', () => {
    const [a, b, c, d] = clean(1);
    expect(checkEvents([a, c, b, d] as any, new Set([1]))).toMatchObject({
      ok: false,
      reordered: 1,
    });
    expect(checkEvents([a, b, c] as any, new Set([1]))).toMatchObject({
      ok: false,
      notComplete: 1,
    });
    expect(checkEvents([] as any, new Set([7]))).toMatchObject({ ok: false, notComplete: 1 });
  });

  test('percentiles are nearest-rank', () => {
    const s = summarize(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect([s.n, s.p50, s.p99, s.max]).toEqual([1000, 500, 990, 1000]);
  });
});

test('a tiny e2e bench runs end to end and accounts for every event', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-bench-smoke-'));
  const r = spawnSync(
    process.execPath,
    [
      path.join(REPO, 'node_modules/jest/bin/jest.js'),
      '--config',
      'bench/jest.config.js',
      'bench/e2e.bench.ts',
    ],
    {
      cwd: REPO,
      env: { ...process.env, BENCH_SCALE: '0.01', BENCH_RESULTS_DIR: dir },
      encoding: 'utf8',
      timeout: 240_000,
    },
  );
  const latest = path.join(dir, 'latest-e2e.json');
  if (!fs.existsSync(latest)) throw new Error(`no result:\n${r.stdout}\n${r.stderr}`.slice(-4000));
  const result = JSON.parse(fs.readFileSync(latest, 'utf8'));
  expect(result.check).toMatchObject({
    ok: true,
    lost: 0,
    duplicates: 0,
    reordered: 0,
    notComplete: 0,
  });
  expect(result.check.events).toBe(result.n * 10);
  expect(result.compare.bullmqFlows.ok && result.compare.pgBoss.ok).toBe(true);
  expect(result.rows.map((row: { figure: string }) => row.figure)).toContain(
    'runs/s (POST -> terminal msg)',
  );
  expect(r.status).toBe(0);
  fs.rmSync(dir, { recursive: true, force: true });
}, 300_000);
