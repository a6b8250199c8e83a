/**
 * The survey-manager example (examples/manager/manager.mjs) against a real
 * wfs: it declares its own durable queue, prints every run's events, logs a
 * poison message loudly and dead-letters it, skips a duplicate, keeps going,
 * and stops cleanly on SIGTERM.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as amqp from 'amqplib';
import { publish, startStack, Stack, until } from '@wfs/testing';

const MANAGER = path.resolve(__dirname, '..', 'examples', 'manager', 'manager.mjs');

let stack: Stack;
let manager: ChildProcess | null = null;
let output = '';
let tmp: string;
const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const queue = `test-example-manager-${suffix}.wfs-status`;
const deadLetters = `${queue}.dead-letter`;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-manager-example-'));
  // The manager declares its own queue; wfs is told of none.
  stack = await startStack({ env: { WFS_SUBSCRIBER_QUEUES: '' } });
});

afterAll(async () => {
  if (manager && manager.exitCode === null) manager.kill('SIGKILL');
  if (!stack) return;
  const connection = await amqp.connect(stack.config.amqpUrl);
  const ch = await connection.createChannel();
  ch.on('error', () => undefined);
  await ch.deleteQueue(queue).catch(() => undefined);
  await ch.deleteQueue(deadLetters).catch(() => undefined);
  await connection.close();
  await stack.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function startManager(bindings: string | null = 'run.std_calibration.*'): ChildProcess {
  const child = spawn(process.execPath, [MANAGER], {
    env: {
      PATH: process.env.PATH ?? '',
      AMQP_URL: stack.config.amqpUrl,
      WFS_EVENTS_EXCHANGE: stack.config.eventsExchange,
      MANAGER_QUEUE: queue,
      ...(bindings === null ? {} : { MANAGER_BINDINGS: bindings }),
      MANAGER_PREFETCH: '8',
      MANAGER_SEEN_FILE: path.join(tmp, 'seen.json'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  return child;
}

const lines = () => output.split('\n');

test('the example manager consumes every event, survives a poison message and stops cleanly', async () => {
  manager = startManager();
  // Its queue and bindings exist once it says so; events before that would be routed nowhere.
  await until('the manager to consume', () => output.includes(`consuming ${queue}`), 15_000);

  const create = async (subject: string) => {
    const r = await stack.call('POST', '/api/v1/workflows/std_calibration/runs', {
      body: { subject, submit: true },
    });
    expect(r.status).toBe(201);
    return r.body.id as number;
  };
  const ids = [await create('X.eb1')];
  await publish(
    stack.config.amqpUrl,
    stack.config.eventsExchange,
    'run.std_calibration.complete',
    'this is {not json',
    { messageId: 'poison-1', contentType: 'application/json' },
  );
  ids.push(await create('X.eb2'), await create('X.eb3'));
  for (const id of ids) expect((await stack.waitForRun(id)).state).toBe('complete');

  const completeLines = (id: number) =>
    lines().filter((l) =>
      new RegExp(`run ${id} std_calibration v\\d+ \\[X\\.eb\\d\\] #\\d+ complete `).test(l),
    );
  await until(
    'every run complete in the output',
    () => ids.every((id) => completeLines(id).length > 0),
    30_000,
  );

  // The poison was logged loudly with its content, and kept in the manager's dead-letter queue.
  const bad = lines().find((l) => l.includes('BAD MESSAGE'));
  expect(bad).toContain('not JSON');
  expect(bad).toContain('this is {not json');
  expect(bad).toContain('routingKey=run.std_calibration.complete');

  // Job-level progress with stages, and no ordering warnings for these runs.
  expect(
    lines().some((l) =>
      new RegExp(`run ${ids[0]} .* job-started casa\\[0\\] \\(running casa\\) running`).test(l),
    ),
  ).toBe(true);
  expect(lines().filter((l) => l.includes('WARN run'))).toEqual([]);

  // A redelivered event (same messageId) is recognised and skipped.
  const events = (await stack.call('GET', `/api/v1/runs/${ids[1]}/events`)).body.items;
  const complete = events.find((e: any) => e.type === 'complete');
  await publish(
    stack.config.amqpUrl,
    stack.config.eventsExchange,
    'run.std_calibration.complete',
    JSON.stringify(complete),
    {
      messageId: complete.messageId,
    },
  );
  await until('the duplicate to be skipped', () =>
    output.includes(`duplicate ${complete.messageId}`),
  );
  expect(completeLines(ids[1]!)).toHaveLength(1);

  // Still running after all that.
  expect(manager.exitCode).toBeNull();

  const exited = new Promise<number | null>((resolve) =>
    manager!.once('exit', (code) => resolve(code)),
  );
  manager.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(output).toContain('SIGTERM: stopping');

  // The dedupe set was saved for the next start.
  const saved = JSON.parse(fs.readFileSync(path.join(tmp, 'seen.json'), 'utf8'));
  expect(saved.seen).toContain(complete.messageId);
  const last = (await stack.call('GET', `/api/v1/runs/${ids[2]}/events`)).body.items.at(-1);
  expect(saved.lastSequence[String(ids[2])]).toBe(last.sequence);

  const connection = await amqp.connect(stack.config.amqpUrl);
  try {
    const ch = await connection.createChannel();
    const letter = await ch.get(deadLetters, { noAck: true });
    expect(letter && letter.content.toString()).toBe('this is {not json');
    expect(letter && letter.properties.headers?.['x-dead-letter-reason']).toBe('not JSON');
    // Everything else was acked: the manager's queue is empty.
    expect((await ch.checkQueue(queue)).messageCount).toBe(0);
  } finally {
    await connection.close();
  }
});

test('by default the example binds every workflow that ships, and sees their events', async () => {
  output = '';
  manager = startManager(null);
  await until('the manager to consume', () => output.includes(`consuming ${queue}`), 15_000);
  const line = lines().find((l) => l.includes(`consuming ${queue}`)) ?? '';
  const bindings = /\(bindings (.*) on /.exec(line)?.[1]?.split(' | ') ?? [];
  const shipped = fs
    .readdirSync(path.resolve(__dirname, '..', 'workflows'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => `run.${f.replace(/\.yaml$/, '')}.*`);
  expect([...bindings].sort()).toEqual(shipped.sort());
  const r = await stack.call('POST', '/api/v1/workflows/std_imaging/runs', {
    body: { subject: 'uid://A001/X1/X9', submit: true },
  });
  expect(r.status).toBe(201);
  await stack.waitForRun(r.body.id);
  await until(
    'the imaging run complete in the output',
    () =>
      lines().some(
        (l) =>
          l.includes(`run ${r.body.id} std_imaging v1 [uid://A001/X1/X9]`) && / complete /.test(l),
      ),
    30_000,
  );
  const exited = new Promise((resolve) => manager!.once('exit', resolve));
  manager.kill('SIGTERM');
  await exited;
}, 60_000);
