import type { ConfirmChannel } from 'amqplib';
import { routingKey, WfsEvent } from '@wfs/domain';
import { Database, LeaderLock, PgListener, Wakeup, wakeOnNotify } from '@wfs/persistence';
import { AmqpConnection } from './amqp-connection';
import { EVENTS_CHANNEL, workflowRoutingKey } from './outbox';

interface Log {
  log(m: string): void;
  warn(m: string): void;
  error(m: string): void;
}

const LEADER_LOCK = 'wfs-outbox-relay';

/**
 * Drains the events table to the topic exchange: persistent messages,
 * publisher confirms per batch, rows marked published only after the broker
 * confirmed them. One relay per database is active at a time (a session
 * advisory lock; another process takes over when its connection dies), and it
 * publishes in id order, which is sequence order within every run. Woken by
 * NOTIFY on each commit, with a slow timer as a safety net.
 */
export class OutboxRelay {
  private channel: ConfirmChannel | null = null;
  private readonly leader: LeaderLock;
  private listener: PgListener | null = null;
  private stopped = false;
  private readonly wakeup = new Wakeup();
  private loop: Promise<void> | null = null;
  published = 0;

  constructor(
    private readonly db: Database,
    private readonly amqp: AmqpConnection,
    private readonly exchange: string,
    private readonly log: Log,
    private readonly batchSize = 500,
  ) {
    this.leader = new LeaderLock(db.url, LEADER_LOCK, () => this.log.log('outbox relay: active'));
  }

  async start(): Promise<void> {
    await this.amqp.onConnect(async (connection) => {
      const ch = await connection.createConfirmChannel();
      ch.on('error', () => undefined);
      ch.on('close', () => {
        if (this.channel === ch) this.channel = null;
      });
      await ch.assertExchange(this.exchange, 'topic', { durable: true });
      this.channel = ch;
      this.wakeup.poke();
    });
    this.listener = await wakeOnNotify(this.db.url, EVENTS_CHANNEL, this.wakeup);
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!(await this.leader.held())) {
          await this.wakeup.sleep(1000);
          continue;
        }
        if (!this.channel) {
          await this.wakeup.sleep(500);
          continue;
        }
        const sent = await this.drainOnce(this.channel);
        if (sent === 0) await this.wakeup.sleep(1000);
      } catch (e) {
        if (!this.stopped) this.log.warn(`outbox relay: ${(e as Error).message}; retrying`);
        await this.wakeup.sleep(500);
      }
    }
  }

  /** Publishes one batch; returns how many events it moved. */
  private async drainOnce(ch: ConfirmChannel): Promise<number> {
    // The body goes out as stored (text, not parsed and serialized again); the properties
    // and routing key come from its fields.
    const rows = await this.db.query<{
      id: string;
      body: string;
      type: string;
      workflow: string;
      message_id: string;
      occurred_at: string;
      run_id: string;
      sequence: number;
    }>(
      `SELECT id, body::text AS body, type, body->>'workflow' AS workflow, body->>'messageId' AS message_id,
              body->>'occurredAt' AS occurred_at, run_id, sequence
       FROM events WHERE published_at IS NULL ORDER BY id LIMIT $1`,
      [this.batchSize],
    );
    if (rows.length === 0) return this.drainWorkflowEvents(ch);
    await this.drainWorkflowEvents(ch);
    for (const e of rows) {
      const ok = ch.publish(
        this.exchange,
        routingKey({ workflow: e.workflow, type: e.type as WfsEvent['type'] }),
        Buffer.from(e.body),
        {
          persistent: true,
          contentType: 'application/json',
          contentEncoding: 'utf-8',
          messageId: e.message_id,
          type: e.type,
          timestamp: Math.floor(Date.parse(e.occurred_at) / 1000),
          headers: { 'x-run-id': Number(e.run_id), 'x-sequence': e.sequence },
        },
      );
      if (!ok) await new Promise((resolve) => ch.once('drain', resolve));
    }
    await ch.waitForConfirms();
    await this.db.query('UPDATE events SET published_at = now() WHERE id = ANY($1::bigint[])', [
      rows.map((r) => r.id),
    ]);
    this.published += rows.length;
    return rows.length;
  }

  /** Workflow-level messages (paused, unpaused): after the run events, in id order. */
  private async drainWorkflowEvents(ch: ConfirmChannel): Promise<number> {
    const rows = await this.db.query<{ id: string; body: string; type: string; workflow: string }>(
      `SELECT id, body::text AS body, type, workflow FROM workflow_events
       WHERE published_at IS NULL ORDER BY id LIMIT $1`,
      [this.batchSize],
    );
    if (rows.length === 0) return 0;
    for (const e of rows) {
      const body = JSON.parse(e.body) as { messageId: string; type: string; occurredAt: string };
      const ok = ch.publish(
        this.exchange,
        workflowRoutingKey(e.workflow, e.type),
        Buffer.from(e.body),
        {
          persistent: true,
          contentType: 'application/json',
          contentEncoding: 'utf-8',
          messageId: body.messageId,
          type: body.type,
          timestamp: Math.floor(Date.parse(body.occurredAt) / 1000),
        },
      );
      if (!ok) await new Promise((resolve) => ch.once('drain', resolve));
    }
    await ch.waitForConfirms();
    await this.db.query(
      'UPDATE workflow_events SET published_at = now() WHERE id = ANY($1::bigint[])',
      [rows.map((r) => r.id)],
    );
    this.published += rows.length;
    return rows.length;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeup.poke();
    await this.loop;
    await this.listener?.close();
    await this.leader.release();
    await this.channel?.close().catch(() => undefined);
  }
}
