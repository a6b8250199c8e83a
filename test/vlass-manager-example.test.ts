/**
 * The VLASS survey-manager example (examples/vlass-manager/manager.mjs)
 * against a real wfs: three tiles go from quick-look imaging through caching
 * to one bulk ingestion, each ending with its processing id, caching id, the
 * shared ingestion id and its product's name as the archive has it. The
 * manager is stopped while its runs are still finishing and started again:
 * it catches up from its durable queue and state file, launching nothing
 * twice. Bad messages on its queue are logged and skipped; a redelivery is
 * recognised by its messageId, also after a restart; when the broker drops
 * its consumer it connects again and goes on.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as amqp from 'amqplib';
import { publish, startStack, Stack, TOKENS, until } from '@wfs/testing';

const MANAGER = path.resolve(__dirname, '..', 'examples', 'vlass-manager', 'manager.mjs');

let stack: Stack;
let manager: ChildProcess | null = null;
let output = '';
let tmp: string;
const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const queue = `test-vlass-manager-${suffix}.workspaces-status`;

const TILES = [
  { epoch: 'VLASS2.1', tile: 'T10t12', phaseCenter: 'J101700+433000' },
  { epoch: 'VLASS2.1', tile: 'T10t13', phaseCenter: 'J102300+443000' },
  { epoch: 'VLASS2.1', tile: 'T11t01', phaseCenter: 'J103100+453000' },
].map((t) => ({
  ...t,
  imageName: `${t.epoch}.ql.${t.tile}.${t.phaseCenter}.10.2048.v${suffix}`,
  executionBlocks: ['VLASS2.1.sb38573828.eb38594022.59073.83'],
}));
// A fourth tile whose automatic QA fails (the simulator's SIMFAIL convention, on the subject).
const FAILING = {
  epoch: 'VLASS2.1',
  tile: 'T11t02',
  phaseCenter: 'J104000+463000',
  imageName: `VLASS2.1.ql.T11t02.SIMFAIL-ANNOTATEQA.v${suffix}`,
  executionBlocks: ['VLASS2.1.sb38573828.eb38594022.59073.83'],
};

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-vlass-manager-'));
  fs.writeFileSync(path.join(tmp, 'tiles.json'), JSON.stringify([...TILES, FAILING]));
  // The manager declares its own queue; wfs is told of none.
  stack = await startStack({ env: { WFS_SUBSCRIBER_QUEUES: '' } });
}, 60_000);

afterAll(async () => {
  if (manager && manager.exitCode === null) manager.kill('SIGKILL');
  if (!stack) return;
  const connection = await amqp.connect(stack.config.amqpUrl);
  const ch = await connection.createChannel();
  ch.on('error', () => undefined);
  await ch.deleteQueue(queue).catch(() => undefined);
  await connection.close();
  await stack.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function startManager(): ChildProcess {
  const child = spawn(process.execPath, [MANAGER, path.join(tmp, 'tiles.json')], {
    env: {
      PATH: process.env.PATH ?? '',
      WFS_URL: stack.url,
      WFS_TOKEN: TOKENS.service,
      AMQP_URL: stack.config.amqpUrl,
      WFS_EVENTS_EXCHANGE: stack.config.eventsExchange,
      VLASS_MANAGER_QUEUE: queue,
      VLASS_MANAGER_STATE: path.join(tmp, 'state.json'),
      VLASS_MANAGER_RESULTS_ROOT: path.join(
        stack.config.resultsRoots[0] as string,
        'vlass-manager',
      ),
      VLASS_MANAGER_PREFETCH: '8',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  return child;
}

async function stopManager(): Promise<void> {
  const exited = new Promise<number | null>((resolve) =>
    manager!.once('exit', (code) => resolve(code)),
  );
  manager!.kill('SIGTERM');
  expect(await exited).toBe(0);
}

const state = (): any => JSON.parse(fs.readFileSync(path.join(tmp, 'state.json'), 'utf8'));
const lines = () => output.split('\n');
const listRuns = async (workflow: string): Promise<any[]> =>
  (await stack.call('GET', `/api/v1/runs?workflow=${workflow}&limit=500`, { role: 'viewer' })).body
    .items;

test('three tiles go end to end across a restart, a failing one is marked failed; bad messages and redeliveries are skipped', async () => {
  // The quick-look runs wait (the workflow is paused) until the manager has been stopped, so
  // every outcome reaches it through its durable queue, never while it is still running.
  const pause = await stack.call('POST', '/api/v1/workflows/vlass_quicklook/pause', {
    role: 'ops',
    body: { reason: 'the manager is stopped before its runs finish' },
  });
  expect(pause.status).toBe(200);
  manager = startManager();
  await until('the manager to consume', () => output.includes(`consuming ${queue}`), 15_000);
  await until(
    'the three processing runs submitted',
    () => lines().filter((l) => / processing run \d+ submitted /.test(l)).length === 4,
    20_000,
  );
  // Stopped while its runs are still going: their events wait in its durable queue.
  await stopManager();
  const ids = TILES.map((t) => state().tiles[t.imageName].processingId as number);
  expect(new Set(ids).size).toBe(3);
  for (const id of ids)
    expect((await stack.call('GET', `/api/v1/runs/${id}`)).body.state).not.toBe('complete');
  const unpause = await stack.call('POST', '/api/v1/workflows/vlass_quicklook/unpause', {
    role: 'ops',
  });
  expect(unpause.status).toBe(200);
  for (const id of ids) expect((await stack.waitForRun(id)).state).toBe('complete');
  expect(await listRuns('vlass_image_caching')).toEqual([]);

  // Bad messages with keys it binds: not JSON, no runId, a run it never launched.
  const key = 'run.vlass_quicklook.complete';
  const { amqpUrl, eventsExchange } = stack.config;
  await publish(amqpUrl, eventsExchange, key, 'this is {not json', { messageId: 'poison-1' });
  await publish(amqpUrl, eventsExchange, key, JSON.stringify({ messageId: 'p2', type: 'x' }), {
    messageId: 'poison-2',
  });
  const stranger = {
    messageId: 'poison-3',
    type: 'complete',
    runId: 999_999,
    sequence: 9,
    workflow: 'vlass_image_caching',
    state: 'complete',
  };
  await publish(
    amqpUrl,
    eventsExchange,
    'run.vlass_image_caching.complete',
    JSON.stringify(stranger),
  );

  const restartedAt = output.length;
  manager = startManager();
  const done = () =>
    TILES.every((t) => {
      const row = state().tiles[t.imageName];
      return row.ingestionState === 'ingested' && row.productName;
    });
  await until('every tile ingested with its product name', done, 60_000);

  const tiles = TILES.map((t) => state().tiles[t.imageName]);
  const ingestionId = tiles[0].ingestionId as number;
  for (const [i, t] of tiles.entries()) {
    expect(t).toMatchObject({
      processingId: ids[i],
      processingState: 'complete',
      cachingState: 'complete',
      ingestionState: 'ingested',
      ingestionId,
      cacheName: `${t.epoch}/${t.tile}/${t.phaseCenter}/${t.imageName}`,
    });
    expect(t.error).toBeUndefined();
    // The product name is the one the archive has for the tile's subject.
    expect(t.productName).toBe(`${t.imageName}.img.r${t.processingId}`);
    const archived = await stack.call(
      'GET',
      `/api/v1/archive/subjects/${encodeURIComponent(t.imageName)}`,
      { role: 'viewer' },
    );
    expect(archived.status).toBe(200);
    expect(JSON.stringify(archived.body)).toContain(t.productName);
    // Its run wrote where the manager asked.
    const run = (await stack.call('GET', `/api/v1/runs/${t.processingId}`)).body;
    expect(run.resultsDir).toBe(t.resultsDir);
    expect(run.ingestionRunId).toBe(ingestionId);
  }
  // The failing tile is marked failed with the error, and was neither cached nor ingested.
  const failing = state().tiles[FAILING.imageName];
  expect(failing).toMatchObject({ processingState: 'failed', cachingState: null });
  expect(failing.error).toMatch(/^processing failed: exit_code: job qa/);
  expect(failing.cachingId).toBeUndefined();
  expect(failing.ingestionId).toBeUndefined();
  expect((await stack.waitForRun(failing.processingId)).state).toBe('failed');

  // One bulk ingestion, its id apart from every processing id.
  expect(ids).not.toContain(ingestionId);
  const ingestions = await listRuns('vlass_quicklook_ingestion');
  expect(ingestions.map((r) => r.id)).toEqual([ingestionId]);
  expect([...ingestions[0].sourceRunIds].sort()).toEqual([...ids].sort());
  // Exactly one caching run per tile, the one it stored, nothing doubled by the restart.
  const cachings = await listRuns('vlass_image_caching');
  expect(cachings.map((r) => [r.id, r.subject]).sort()).toEqual(
    tiles.map((t) => [t.cachingId, t.imageName]).sort(),
  );
  for (const c of cachings) expect(c.state).toBe('complete');

  // Stages followed from the job events (before the stop or caught up on after it).
  for (const stage of ['gathering data', 'running casa', 'post casa work']) {
    expect(
      lines().some(
        (l) => l.includes(`tile ${tiles[0].imageName}: job-`) && l.includes(`(${stage})`),
      ),
    ).toBe(true);
  }

  // The bad messages were logged loudly and skipped.
  const bad = output
    .slice(restartedAt)
    .split('\n')
    .filter((l) => l.includes('BAD MESSAGE'));
  expect(bad.find((l) => l.includes('poison-1'))).toMatch(/not JSON.*this is \{not json/);
  expect(bad.find((l) => l.includes('poison-2'))).toContain('missing or invalid field: runId');
  expect(bad.find((l) => l.includes('poison-3'))).toContain('unknown run 999999');

  await stopManager();

  // A redelivery after a restart (same messageId) is recognised from the saved state and launches nothing.
  const events = (await stack.call('GET', `/api/v1/runs/${ids[1]}/events`)).body.items;
  const complete = events.find((e: any) => e.type === 'complete');
  await publish(amqpUrl, eventsExchange, key, JSON.stringify(complete), {
    messageId: complete.messageId,
  });
  manager = startManager();
  await until('the duplicate to be skipped', () =>
    output.includes(`duplicate ${complete.messageId}`),
  );
  expect(await listRuns('vlass_image_caching')).toHaveLength(3);
  expect(await listRuns('vlass_quicklook_ingestion')).toHaveLength(1);

  // The broker drops its side (here: the queue is deleted and the consumer cancelled): the manager
  // connects again, declares its queue and bindings again and goes on.
  const consuming = () => output.split(`consuming ${queue}`).length - 1;
  const before = consuming();
  const admin = await amqp.connect(amqpUrl);
  await (await admin.createChannel()).deleteQueue(queue);
  await admin.close();
  await until('the manager to consume again', () => consuming() > before, 15_000);
  const third = (await stack.call('GET', `/api/v1/runs/${ids[2]}/events`)).body.items.find(
    (e: any) => e.type === 'complete',
  );
  await publish(amqpUrl, eventsExchange, key, JSON.stringify(third), {
    messageId: third.messageId,
  });
  await until('the next duplicate to be skipped', () =>
    output.includes(`duplicate ${third.messageId}`),
  );
  expect(await listRuns('vlass_image_caching')).toHaveLength(3);
  expect(manager.exitCode).toBeNull();

  await stopManager();
  if (process.env.SHOW_MANAGER_OUTPUT) console.log(output);
  const connection = await amqp.connect(amqpUrl);
  try {
    const ch = await connection.createChannel();
    expect((await ch.checkQueue(queue)).messageCount).toBe(0);
  } finally {
    await connection.close();
  }
}, 90_000);
