#!/usr/bin/env node
// `npm run bench [-- e2e scatter latency api fairness batch radps prune]`: makes sure the services are up
// and dist is built (the benches start the compiled API and worker as
// processes), runs each benchmark in its own jest process (bench/jest.config.js)
// and prints the combined table. BENCH_SCALE (default 1) shrinks or grows N.
// Speed bars are reported, not thrown; the exit status is non-zero only when a
// bench could not run or found an incorrect result (lost/duplicate/out-of-order
// events, a run not complete).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const run = (cmd, args, env = {}) =>
  spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });

const ALL = ['e2e', 'scatter', 'latency', 'api', 'fairness', 'batch', 'radps', 'prune'];
// Where the benches write their JSON (bench/support.ts reads the same variable).
const RESULTS = process.env.BENCH_RESULTS_DIR ?? join(root, 'bench', 'results');
const wanted = process.argv.slice(2).filter((a) => ALL.includes(a));
const benches = wanted.length ? wanted : ALL;

if (!existsSync(join(root, 'node_modules'))) run('bash', ['scripts/install.sh']);
for (const step of [['bash', ['scripts/ensure-services.sh']], ['npm', ['run', 'build', '--silent']]]) {
  if (run(...step).status !== 0) {
    console.error(`bench: ${step.flat().join(' ')} failed`);
    process.exit(1);
  }
}

const t0 = Date.now();
let failed = 0;
const rows = [];
for (const bench of benches) {
  const latest = join(RESULTS, `latest-${bench}.json`);
  const before = existsSync(latest) ? readFileSync(latest, 'utf8') : null;
  if (bench !== 'latency') rmSync(latest, { force: true }); // latency reads e2e's figure
  console.log(`\n=== bench ${bench} (BENCH_SCALE=${process.env.BENCH_SCALE ?? 1}) ===`);
  const r = run(process.execPath, [
    join(root, 'node_modules/jest/bin/jest.js'),
    '--config',
    'bench/jest.config.js',
    '--runInBand',
    '--silent=false',
    `bench/${bench}.bench.ts`,
  ]);
  if (r.status !== 0) failed++;
  if (existsSync(latest) && readFileSync(latest, 'utf8') !== before)
    rows.push(...JSON.parse(readFileSync(latest, 'utf8')).rows);
  else rows.push({ bench, figure: '(did not finish)', value: '-', baseline: '-', ratio: '-', bar: '-', pass: false });
}

const head = ['bench', 'figure', 'value', 'baseline', 'ratio', 'bar', 'pass'];
const cells = rows.map((r) => [r.bench, r.figure, r.value, r.baseline, r.ratio, r.bar, r.pass === null ? '-' : r.pass ? 'PASS' : 'FAIL']);
const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => String(c[i]).length)));
const line = (c) => '| ' + c.map((x, i) => String(x).padEnd(w[i])).join(' | ') + ' |';
console.log(`\nbench results (${Math.round((Date.now() - t0) / 1000)} s, JSON in ${RESULTS}):`);
console.log([line(head), line(w.map((n) => '-'.repeat(n))), ...cells.map(line)].join('\n'));
const missed = rows.filter((r) => r.pass === false).length;
console.log(`\n${missed} bar(s) missed; ${failed} bench(es) failed to run or found incorrect results`);
process.exit(failed ? 1 : 0);
