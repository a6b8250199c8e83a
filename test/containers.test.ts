import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * scripts/check-containers.mjs (a step of npm run check) stands in for a Docker
 * engine this machine does not have: it must pass the repository's files and
 * name what is wrong in broken copies of them.
 */
const root = path.join(__dirname, '..');
const compose = fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');
const dockerfile = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-containers-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function check(composeText: string, dockerText: string) {
  const c = path.join(tmp, `compose-${Math.random().toString(36).slice(2)}.yml`);
  const d = path.join(tmp, `Dockerfile-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(c, composeText);
  fs.writeFileSync(d, dockerText);
  const r = spawnSync(process.execPath, [path.join(root, 'scripts/check-containers.mjs'), c, d], {
    encoding: 'utf8',
  });
  return { status: r.status, out: r.stdout + r.stderr };
}

/** Replaces one exact piece of text, failing when it is not there (so a test cannot pass vacuously). */
function edit(text: string, from: string, to: string): string {
  expect(text).toContain(from);
  return text.replace(from, to);
}

test('the repository docker-compose.yml and Dockerfile pass', () => {
  const r = check(compose, dockerfile);
  expect(r.out).toContain('valid against the Compose specification');
  expect(r.status).toBe(0);
});

test('a compose file outside the Compose specification is refused, naming the property', () => {
  const r = check(
    edit(compose, '    restart: "no"\n', '    restart: "no"\n    restarts: 3\n'),
    dockerfile,
  );
  expect(r.status).toBe(1);
  expect(r.out).toMatch(/\/services\/migrate must NOT have additional properties.*restarts/);
});

test('api and worker on different data volumes, or not waiting for migrate, are refused', () => {
  let c = edit(
    compose,
    '    command: ["node", "dist/apps/worker/src/main.js"]\n',
    '    command: ["node", "dist/apps/worker/src/main.js"]\n    volumes: ["otherdata:/var/lib/wfs"]\n',
  );
  c = edit(
    c,
    '      condition: service_completed_successfully',
    '      condition: service_started',
  );
  const r = check(c, dockerfile);
  expect(r.status).toBe(1);
  expect(r.out).toContain('api and worker must mount the same volume');
  expect(r.out).toContain('api should wait for migrate to complete successfully');
});

test('a Dockerfile that does not build as CI does, runs as root or ships the tests is refused', () => {
  let d = edit(dockerfile, 'RUN bash scripts/install.sh', 'RUN npm install');
  d = edit(d, 'USER node', 'USER root');
  d = edit(d, 'COPY tools tools', 'COPY tools tools\nCOPY test test');
  const r = check(compose, d);
  expect(r.status).toBe(1);
  expect(r.out).toContain('should RUN "bash scripts/install.sh"');
  expect(r.out).toContain('non-root USER');
  expect(r.out).toContain('copies test');
});
