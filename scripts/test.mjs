#!/usr/bin/env node
// `npm test`: makes sure the services are up, builds (fault tests start the
// compiled API and worker as separate processes), runs every jest suite and
// ends with the line CI reads: "N passed, N failed".
// The broker fault tests stop the machine's RabbitMQ for up to ~35 s, so they
// run on their own after everything else, never beside a suite that reads AMQP.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: process.env });
const ALONE = 'test/faults-broker.test.ts';

if (!existsSync(join(root, 'node_modules'))) run('bash', ['scripts/install.sh']);
// The dashboard's browser test needs Debian's chromium: installed here when missing (it says so if it cannot).
run('bash', ['scripts/ensure-chromium.sh']);
// The Slurm tests start a one-node Slurm of their own from Debian's slurm-wlm and munge: installed here when missing.
run('bash', ['scripts/ensure-slurm.sh']);
for (const step of [['bash', ['scripts/ensure-services.sh']], ['npm', ['run', 'build', '--silent']]]) {
  if (run(...step).status !== 0) {
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'wfs-jest-'));
let passed = 0;
let failed = 0;
let ok = true;
function jest(name, args) {
  const out = join(tmp, `${name}.json`);
  const r = run(process.execPath, [join(root, 'node_modules/jest/bin/jest.js'), '--json', `--outputFile=${out}`, ...args]);
  if (!existsSync(out)) {
    failed += 1;
    ok = false;
    return;
  }
  const results = JSON.parse(readFileSync(out, 'utf8'));
  passed += results.numPassedTests;
  // A suite that cannot even load counts as a failure too.
  failed += results.numFailedTests + results.numRuntimeErrorTestSuites;
  if (r.status !== 0) ok = false;
}

const selected = process.argv.slice(2);
if (selected.length > 0) {
  jest('selected', selected);
} else {
  jest('main', ['--testPathIgnorePatterns', ALONE]);
  jest('broker', ['--runInBand', ALONE]);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(ok && failed === 0 ? 0 : 1);
