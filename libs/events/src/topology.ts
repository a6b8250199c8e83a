import type { Channel } from 'amqplib';

export interface Topology {
  eventsExchange: string;
  archiveExchange: string;
  queuePrefix: string;
  subscriberQueues: Array<{ queue: string; bindings: string[] }>;
}

export const ingestionQueue = (prefix: string): string => `${prefix}.archive-ingestion`;
export const deadLetterQueue = (prefix: string): string => `${prefix}.dead-letter`;
export const INGESTION_COMPLETE_KEY = 'ingestion-complete.observation';

/**
 * Declares everything the service relies on, durable, so that messages wait
 * in queues for consumers that are down or not started yet. Idempotent.
 */
export async function declareTopology(ch: Channel, t: Topology): Promise<void> {
  await ch.assertExchange(t.eventsExchange, 'topic', { durable: true });
  await ch.assertExchange(t.archiveExchange, 'topic', { durable: true });
  for (const { queue, bindings } of t.subscriberQueues) {
    await ch.assertQueue(queue, { durable: true });
    for (const key of bindings) await ch.bindQueue(queue, t.eventsExchange, key);
  }
  await ch.assertQueue(deadLetterQueue(t.queuePrefix), { durable: true });
  await ch.assertQueue(ingestionQueue(t.queuePrefix), { durable: true });
  await ch.bindQueue(ingestionQueue(t.queuePrefix), t.archiveExchange, INGESTION_COMPLETE_KEY);
}
