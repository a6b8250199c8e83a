#!/usr/bin/env node
// `npm test`: makes sure the services are up, runs every jest suite (unit,
// integration, end-to-end) and ends with the line CI reads: "N passed, N failed".
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: process.env });

if (!existsSync(join(root, 'node_modules'))) run('bash', ['scripts/install.sh']);
// Fault tests start the compiled API and worker as separate processes.
for (const step of [['bash', ['scripts/ensure-services.sh']], ['npm', ['run', 'build', '--silent']]]) {
  if (run(...step).status !== 0) {
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}
const out = join(mkdtempSync(join(tmpdir(), 'wfs-jest-')), 'results.json');
const jest = run(process.execPath, [join(root, 'node_modules/jest/bin/jest.js'), '--json', `--outputFile=${out}`, ...process.argv.slice(2)]);
let passed = 0;
let failed = 0;
if (existsSync(out)) {
  const results = JSON.parse(readFileSync(out, 'utf8'));
  passed = results.numPassedTests;
  // A suite that cannot even load counts as a failure too.
  failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
} else {
  failed = 1;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(jest.status === 0 && failed === 0 ? 0 : 1);
