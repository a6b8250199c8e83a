import * as fs from 'node:fs';
import * as path from 'node:path';
import { collectQueue, publish, sequenceProblems, startStack, Stack, until } from '@wfs/testing';
import * as amqp from 'amqplib';

let stack: Stack;
let queue: string;
beforeAll(async () => {
  const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  queue = `test-manager-${suffix}.wfs-status`;
  stack = await startStack({
    env: { WFS_SUBSCRIBER_QUEUES: `${queue}=run.std_calibration.*|run.radps_skeleton.#` },
  });
});
afterAll(async () => {
  await stack?.stop();
});

async function deadLetters(): Promise<Array<{ content: string; reason: string }>> {
  const connection = await amqp.connect(stack.config.amqpUrl);
  const ch = await connection.createChannel();
  ch.on('error', () => undefined);
  const out: Array<{ content: string; reason: string }> = [];
  for (;;) {
    const msg = await ch.get(`${stack.config.queuePrefix}.dead-letter`, { noAck: false });
    if (!msg) break;
    // Left unacked: closing the connection puts every one back for the next look.
    out.push({
      content: msg.content.toString(),
      reason: String(msg.properties.headers?.['x-dead-letter-reason']),
    });
  }
  await connection.close();
  return out;
}

describe('outbound events', () => {
  test('every event of every run reaches a subscriber queue declared at start-up, in order, with the contract properties', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await stack.call('POST', '/api/v1/workflows/std_calibration/runs', {
        body: { subject: `19A-001.eb${i}`, submit: true, correlationId: `c${i}` },
      });
      expect(r.status).toBe(201);
      ids.push(r.body.id);
    }
    for (const id of ids) await stack.waitForRun(id);
    const consumer = await collectQueue(stack.config.amqpUrl, queue);
    try {
      const expected = (
        await stack.db.query<{ n: string }>(
          'SELECT count(*) AS n FROM events WHERE run_id = ANY($1)',
          [ids],
        )
      )[0]!.n;
      await until('all events', () => consumer.messages.length >= Number(expected));
      expect(sequenceProblems(consumer.messages)).toEqual([]);
      const complete = consumer.messages.filter((m) => m.body.type === 'complete');
      expect(complete).toHaveLength(5);
      const m = complete[0]!;
      expect(m.routingKey).toBe('run.std_calibration.complete');
      expect(m.properties).toMatchObject({
        deliveryMode: 2,
        contentType: 'application/json',
        messageId: m.body.messageId,
        type: 'complete',
      });
      expect(m.properties.headers).toMatchObject({
        'x-run-id': m.body.runId,
        'x-sequence': m.body.sequence,
      });
      expect(typeof m.properties.timestamp).toBe('number');
      // The message is the same object /events returns.
      const api = await stack.call('GET', `/api/v1/runs/${m.body.runId}/events`);
      expect(api.body.items.find((e: any) => e.sequence === m.body.sequence)).toEqual(m.body);
      const unpublished = await stack.db.query<{ n: string }>(
        'SELECT count(*) AS n FROM events WHERE published_at IS NULL',
      );
      expect(Number(unpublished[0]!.n)).toBe(0);
    } finally {
      await consumer.close();
    }
  });
});

describe('inbound ingestion-complete.observation', () => {
  const send = (body: unknown) =>
    publish(
      stack.config.amqpUrl,
      stack.config.archiveExchange,
      'ingestion-complete.observation',
      typeof body === 'string' ? body : JSON.stringify(body),
    );

  test('a VLA EB starts std_calibration once; a repeat starts nothing', async () => {
    const eb = `20B-${Date.now()}.sb1.eb1`;
    await send({
      telescope: 'VLA',
      executionBlockId: eb,
      projectCode: '20B-377',
      messageId: 'm-1',
    });
    const first = await until(
      'the run',
      async () => (await stack.call('GET', `/api/v1/runs?subject=${eb}`)).body.items[0],
    );
    expect(first).toMatchObject({
      workflow: 'std_calibration',
      subject: eb,
      createdBy: 'archive-ingestion',
      correlationId: 'm-1',
    });
    await send({ telescope: 'VLA', executionBlockId: eb, messageId: 'm-1' });
    await send({ telescope: 'EVLA', executionBlockId: eb, messageId: 'm-2' });
    await stack.waitForRun(first.id);
    // Give the consumer time to handle the repeats, then check they made nothing.
    await new Promise((r) => setTimeout(r, 1500));
    const all = await stack.call('GET', `/api/v1/runs?subject=${eb}`);
    expect(all.body.items).toHaveLength(1);
  });

  test('an EB id in a canonical uid:// form starts a run; its files use the file-safe form', async () => {
    const eb = `uid://evla/execblock/${Date.now().toString(16)}`;
    await send({ telescope: 'VLA', executionBlockId: eb });
    const first = await until(
      'the run',
      async () =>
        (await stack.call('GET', `/api/v1/runs?subject=${encodeURIComponent(eb)}`)).body.items[0],
    );
    expect(first.subject).toBe(eb);
    const run = await stack.waitForRun(first.id);
    expect(run.state).toBe('complete');
    const safe = eb.replace(/[/:]/g, '_');
    expect(fs.readdirSync(path.join(run.processingDir, 'rawdata'))).toEqual([safe]);
    expect(run.processingDir.startsWith(stack.config.qaRoot)).toBe(true);
  });

  test('poison messages are dead-lettered with their reason, and the consumer keeps consuming', async () => {
    const before = (await deadLetters()).length;
    await send('this is not json');
    await send({ executionBlockId: 'x.eb1' });
    await send({ telescope: 'VLA' });
    await send({ telescope: 'NOPE', executionBlockId: 'x.eb2' });
    await send({ telescope: 'VLA', executionBlockId: 'x.eb3\nSubject: forged' });
    await send([1, 2, 3]);
    const letters = await until('dead letters', async () => {
      const l = await deadLetters();
      return l.length >= before + 6 ? l : null;
    });
    const reasons = letters.slice(before).map((l) => l.reason);
    expect(reasons).toEqual(
      expect.arrayContaining([
        'not JSON',
        'missing field: telescope',
        'missing field: executionBlockId',
        'no automatic workflow for telescope NOPE',
        'executionBlockId holds a control or other unprintable character',
        'not a JSON object',
      ]),
    );
    expect(letters.find((l) => l.reason === 'not JSON')?.content).toBe('this is not json');
    // Still consuming:
    const eb = `21A-${Date.now()}.eb9`;
    await send({ telescope: 'VLA', executionBlockId: eb });
    await until(
      'a run after the poison',
      async () => (await stack.call('GET', `/api/v1/runs?subject=${eb}`)).body.items[0],
    );
  });
});
