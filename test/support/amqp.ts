import * as amqp from 'amqplib';

export interface Received {
  body: any;
  properties: amqp.MessageProperties;
  routingKey: string;
}

/** A delivered message as the tests look at it. */
export function received(msg: amqp.ConsumeMessage): Received {
  return {
    body: JSON.parse(msg.content.toString()),
    properties: msg.properties,
    routingKey: msg.fields.routingKey,
  };
}

/** Reads every message currently in a queue (and keeps reading as they come) into an array. */
export async function collectQueue(
  url: string,
  queue: string,
): Promise<{ messages: Received[]; close(): Promise<void> }> {
  const connection = await amqp.connect(url);
  const ch = await connection.createChannel();
  const messages: Received[] = [];
  await ch.consume(queue, (msg) => {
    if (!msg) return;
    messages.push(received(msg));
    ch.ack(msg);
  });
  return {
    messages,
    close: async () => {
      await ch.close().catch(() => undefined);
      await connection.close().catch(() => undefined);
    },
  };
}

/** Publishes raw bytes to an exchange with publisher confirms. */
export async function publish(
  url: string,
  exchange: string,
  key: string,
  content: Buffer | string,
  options: amqp.Options.Publish = {},
): Promise<void> {
  const connection = await amqp.connect(url);
  try {
    const ch = await connection.createConfirmChannel();
    await ch.assertExchange(exchange, 'topic', { durable: true });
    ch.publish(exchange, key, Buffer.isBuffer(content) ? content : Buffer.from(content), {
      persistent: true,
      ...options,
    });
    await ch.waitForConfirms();
  } finally {
    await connection.close();
  }
}

/** Checks the events of each run: sequences 1..n, no gap, no duplicate, in order. Returns problems. */
export function sequenceProblems(messages: Array<{ body: any }>): string[] {
  const byRun = new Map<number, number[]>();
  const seen = new Set<string>();
  for (const m of messages) {
    if (seen.has(m.body.messageId)) continue; // at-least-once: a consumer dedupes on messageId
    seen.add(m.body.messageId);
    byRun.set(m.body.runId, [...(byRun.get(m.body.runId) ?? []), m.body.sequence]);
  }
  const problems: string[] = [];
  for (const [runId, seqs] of byRun) {
    seqs.forEach((s, i) => {
      if (s !== i + 1) problems.push(`run ${runId}: position ${i} has sequence ${s}`);
    });
  }
  return problems;
}

export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
