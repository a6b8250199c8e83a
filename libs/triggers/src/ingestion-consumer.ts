import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { WfsError } from '@wfs/domain';
import { AmqpConnection, deadLetterQueue, ingestionQueue } from '@wfs/events';
import { CreateRun } from '@wfs/runs';
import { parseIngestionComplete } from './ingestion-message';

interface Log {
  log(m: string): void;
  warn(m: string): void;
  error(m: string): void;
}

/** How long a message waits before it is tried again after a fault of ours (database down...). */
const REQUEUE_DELAY_MS = 1000;
/** A message that keeps failing for a reason that is not an outage is not retried for ever. */
const MAX_FAILURES = 20;

/**
 * Consumes `<prefix>.archive-ingestion`: a new VLA observation starts its
 * standard calibration, once per EB (a repeat finds the open request and
 * starts nothing). Acks only after the run is committed. What it cannot use
 * goes to `<prefix>.dead-letter` with the reason, and is logged with its
 * content; a fault of ours (database down) puts the message back for later.
 * It never throws out of the handler.
 */
export class IngestionConsumer {
  handled = 0;
  private readonly failures = new Map<string, number>();

  constructor(
    private readonly amqp: AmqpConnection,
    private readonly createRun: CreateRun,
    private readonly prefix: string,
    private readonly autoWorkflows: Record<string, string>,
    private readonly log: Log,
  ) {}

  async start(): Promise<void> {
    await this.amqp.onConnect(async (connection) => {
      const ch = await connection.createConfirmChannel();
      ch.on('error', () => undefined);
      await ch.prefetch(16);
      await ch.consume(ingestionQueue(this.prefix), (msg) => {
        if (msg) void this.handle(ch, msg);
      });
    });
  }

  private async handle(ch: ConfirmChannel, msg: ConsumeMessage): Promise<void> {
    const content = msg.content.toString('utf8').slice(0, 2000);
    try {
      const parsed = parseIngestionComplete(msg.content);
      if (!parsed.ok) return await this.deadLetter(ch, msg, parsed.reason, content);
      const { telescope, executionBlockId } = parsed.message;
      const workflow = this.autoWorkflows[telescope];
      if (!workflow)
        return await this.deadLetter(
          ch,
          msg,
          `no automatic workflow for telescope ${telescope}`,
          content,
        );
      const { runId, created } = await this.createRun.execute({
        workflow,
        subject: executionBlockId,
        submit: true,
        correlationId: parsed.message.messageId,
        actor: 'archive-ingestion',
        onlyIfNoOpenRequest: true,
      });
      this.log.log(
        created
          ? `ingestion of ${executionBlockId} (${telescope}): started ${workflow} run ${runId}`
          : `ingestion of ${executionBlockId}: request already open (run ${runId}); nothing started`,
      );
      ch.ack(msg);
      this.handled++;
    } catch (e) {
      if (e instanceof WfsError && e.kind !== 'unavailable') {
        await this.deadLetter(ch, msg, `${e.code}: ${e.message}`, content).catch(() => undefined);
        return;
      }
      const key = msg.properties.messageId ?? msg.content.toString('base64').slice(0, 200);
      const failures = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, failures);
      if (failures >= MAX_FAILURES) {
        this.failures.delete(key);
        await this.deadLetter(
          ch,
          msg,
          `failed ${failures} times: ${(e as Error).message}`,
          content,
        ).catch(() => undefined);
        return;
      }
      if (this.failures.size > 10_000) this.failures.clear();
      this.log.warn(
        `ingestion message not handled now (${(e as Error).message}); it will be retried`,
      );
      setTimeout(() => {
        try {
          ch.nack(msg, false, true);
        } catch {
          /* channel gone: the broker redelivers */
        }
      }, REQUEUE_DELAY_MS);
    }
  }

  private async deadLetter(
    ch: ConfirmChannel,
    msg: ConsumeMessage,
    reason: string,
    content: string,
  ): Promise<void> {
    this.log.error(`ingestion message dead-lettered (${reason}): ${content}`);
    ch.sendToQueue(deadLetterQueue(this.prefix), msg.content, {
      persistent: true,
      contentType: msg.properties.contentType,
      messageId: msg.properties.messageId,
      headers: {
        ...(msg.properties.headers ?? {}),
        'x-dead-letter-reason': reason,
        'x-original-queue': ingestionQueue(this.prefix),
        'x-original-routing-key': msg.fields.routingKey,
      },
    });
    await ch.waitForConfirms();
    ch.ack(msg);
    this.handled++;
  }
}
