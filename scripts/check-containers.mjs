#!/usr/bin/env node
// The container files, checked without a Docker engine (npm run check):
// docker-compose.yml against the Compose specification's JSON schema (vendored in
// scripts/compose-spec/, see its README) plus the wiring the schema cannot see, and
// the Dockerfile's build stage against what CI runs (.ci/run).
// Usage: node scripts/check-containers.mjs [compose file] [Dockerfile]
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parse } from 'yaml';

const require = createRequire(import.meta.url);
const Ajv = require('ajv').default;
const root = new URL('..', import.meta.url).pathname;
const composeFile = process.argv[2] ?? join(root, 'docker-compose.yml');
const dockerFile = process.argv[3] ?? join(root, 'Dockerfile');
const problems = [];
const fail = (msg) => problems.push(msg);

// ---- docker-compose.yml: the Compose specification
const schema = JSON.parse(readFileSync(join(root, 'scripts/compose-spec/compose-spec.json'), 'utf8'));
delete schema.$schema; // draft-07, which Ajv speaks by default; its https spelling is not a meta-schema Ajv knows
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
const compose = parse(readFileSync(composeFile, 'utf8'), { merge: true });
if (!validate(compose)) {
  for (const e of validate.errors) fail(`${composeFile}: ${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
}

// ---- docker-compose.yml: what the schema cannot see
const services = compose?.services ?? {};
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
/** `node <file>` of an npm script, e.g. start:api -> dist/apps/api/src/main.js. */
const scriptFile = (name) => /^node (\S+)$/.exec(pkg.scripts[name] ?? '')?.[1];
const roles = { migrate: 'db:migrate', api: 'start:api', worker: 'start:worker' };
for (const [service, script] of Object.entries(roles)) {
  const s = services[service];
  if (!s) {
    fail(`docker-compose.yml: no ${service} service`);
    continue;
  }
  const file = scriptFile(script);
  if (!file) fail(`package.json: script ${script} is not "node <file>"`);
  else if (JSON.stringify(s.command) !== JSON.stringify(['node', file]))
    fail(`docker-compose.yml: ${service}'s command should be ["node", "${file}"] (npm run ${script}), not ${JSON.stringify(s.command)}`);
  if (!s.build && !s.image) fail(`docker-compose.yml: ${service} has neither build nor image`);
}
for (const [name, s] of Object.entries(services)) {
  for (const dep of Object.keys(s.depends_on ?? {})) {
    if (!services[dep]) fail(`docker-compose.yml: ${name} depends on ${dep}, which is not a service`);
  }
  if (name !== 'migrate' && !s.healthcheck) fail(`docker-compose.yml: ${name} has no healthcheck`);
}
for (const name of ['api', 'worker']) {
  const s = services[name];
  if (!s) continue;
  const deps = s.depends_on ?? {};
  for (const backing of ['postgres', 'redis', 'rabbitmq'])
    if (deps[backing]?.condition !== 'service_healthy') fail(`docker-compose.yml: ${name} should wait for ${backing} to be healthy`);
  if (deps.migrate?.condition !== 'service_completed_successfully')
    fail(`docker-compose.yml: ${name} should wait for migrate to complete successfully`);
}
// The API and the workers must see the same files at the same paths (run directories, the archive).
const dataMount = (s) => {
  const root = s?.environment?.WFS_DATA_ROOT;
  const v = (s?.volumes ?? []).map((m) => (typeof m === 'string' ? m.split(':') : [m.source, m.target]));
  return { root, volume: v.find(([, target]) => target === root)?.[0] };
};
const api = dataMount(services.api);
const worker = dataMount(services.worker);
if (!api.root || !api.volume) fail('docker-compose.yml: the api mounts no volume at its WFS_DATA_ROOT');
if (api.root !== worker.root || api.volume !== worker.volume)
  fail(`docker-compose.yml: api and worker must mount the same volume at the same WFS_DATA_ROOT (api ${JSON.stringify(api)}, worker ${JSON.stringify(worker)})`);
if (api.volume && !(api.volume in (compose.volumes ?? {}))) fail(`docker-compose.yml: volume ${api.volume} is not declared`);
// The checkout-mode ports stay as they were (scripts and docs use them).
for (const [name, port] of [['postgres', '5432:5432'], ['redis', '6379:6379'], ['rabbitmq', '5672:5672']]) {
  if (!(services[name]?.ports ?? []).includes(port)) fail(`docker-compose.yml: ${name} should publish ${port}`);
}

// ---- Dockerfile
const lines = readFileSync(dockerFile, 'utf8')
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const stages = [];
for (const l of lines) {
  const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?/i.exec(l);
  if (from) stages.push({ name: from[1] ?? String(stages.length), lines: [] });
  else if (stages.length) stages.at(-1).lines.push(l);
}
const build = stages.find((s) => s.name === 'build');
const runtime = stages.at(-1);
if (stages.length < 2 || !build) fail('Dockerfile: want a multi-stage build with a stage named build');
// What CI runs to install and build, taken from .ci/run itself.
const ci = readFileSync(join(root, '.ci/run'), 'utf8');
const ciCommands = ['bash scripts/install.sh', 'npm run build'].filter((c) => ci.includes(c));
if (ciCommands.length !== 2) fail('.ci/run no longer runs "bash scripts/install.sh" and "npm run build": update the Dockerfile and this check');
const runs = (build?.lines ?? []).filter((l) => /^RUN\s/i.test(l)).map((l) => l.replace(/^RUN\s+/i, ''));
let at = 0;
for (const c of ciCommands) {
  const i = runs.findIndex((r, k) => k >= at && r.split('&&').map((x) => x.trim()).includes(c));
  if (i < 0) fail(`Dockerfile: the build stage should RUN "${c}" (as .ci/run does), in that order`);
  else at = i;
}
if (!/npm ci/.test(readFileSync(join(root, 'scripts/install.sh'), 'utf8'))) fail('scripts/install.sh no longer runs npm ci');
const user = runtime?.lines.filter((l) => /^USER\s/i.test(l)).at(-1)?.split(/\s+/)[1];
if (!user || user === 'root' || user === '0') fail('Dockerfile: the runtime stage should end as a non-root USER');
// The runtime holds only the compiled output, production dependencies, definitions and tools.
const ALLOWED = new Set(['package.json', 'package-lock.json', 'node_modules', 'dist', 'bin', 'workflows', 'tools']);
for (const l of runtime?.lines ?? []) {
  const copy = /^COPY\s+(?:--from=(\S+)\s+)?(.+)\s+(\S+)$/i.exec(l);
  if (!copy) continue;
  for (const src of copy[2].trim().split(/\s+/)) {
    const top = src.replace(/^\/app\//, '').split('/')[0];
    if (!ALLOWED.has(top)) fail(`Dockerfile: the runtime stage copies ${src}; only ${[...ALLOWED].join(', ')} belong there`);
    if (!copy[1] && !existsSync(join(root, top))) fail(`Dockerfile: COPY ${src}: no such path in the repository`);
  }
}
const cmd = runtime?.lines.find((l) => /^CMD\s/i.test(l));
if (!cmd || !cmd.includes(scriptFile('start:api') ?? '?')) fail('Dockerfile: the default CMD should start the API (npm run start:api\'s file)');

if (problems.length) {
  console.error(`containers: ${problems.length} problem(s)\n  ` + problems.join('\n  '));
  process.exit(1);
}
console.log(`containers: ${composeFile.replace(root, '')} valid against the Compose specification; the Dockerfile builds with what CI runs`);
