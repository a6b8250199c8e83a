import { Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { WfsError, WfsEvent, WorkflowDefinition } from '@wfs/domain';
import { EVENTS_CHANNEL } from '@wfs/events';
import { Database, PgListener, Wakeup, wakeOnNotify } from '@wfs/persistence';
import type { WorkflowCatalog } from '@wfs/workflows';
import {
  composeMail,
  MailJob,
  NOTICE_EVENT_TYPES,
  NoticeEventType,
  recipients,
} from './mail-content';
import type { MailTransport } from './mail-transport';

/**
 * The types the notifier turns into mail, written into its query (they are
 * this module's constants): a parameter would make Postgres's generic plan
 * unable to prove the `events_unnotified` predicate, and it would read the
 * events table from the start every tick. The index covers exactly these.
 */
const UNNOTIFIED_TYPES = NOTICE_EVENT_TYPES.map((t) => `'${t.replace(/[^a-z-]/g, '')}'`).join(', ');

export const MAIL_QUEUE = 'mail';

interface Log {
  log(m: string): void;
  warn(m: string): void;
}

/**
 * Mail jobs: one per event (jobId = the event's messageId, so enqueueing the
 * same event twice is a no-op), retried 5 times with exponential backoff.
 * Finished jobs are kept a while so that the id still deduplicates a repeat
 * (a notifier that enqueued but died before marking the event notified).
 */
export const MAIL_JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'exponential' as const, delay: 2_000 },
  removeOnComplete: { age: 30 * 24 * 3600, count: 100_000 },
  removeOnFail: { age: 30 * 24 * 3600, count: 100_000 },
};

export function mailQueue(connection: Redis, prefix: string): Queue<MailJob> {
  return new Queue<MailJob>(MAIL_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: MAIL_JOB_OPTIONS,
  });
}

/** The BullMQ worker that sends mail jobs. */
export function consumeMail(
  connection: Redis,
  prefix: string,
  transport: MailTransport,
  log: Log,
  concurrency = 4,
): Worker<MailJob> {
  const worker = new Worker<MailJob>(
    MAIL_QUEUE,
    async (job: Job<MailJob>) => {
      const where = await transport.send(job.data);
      log.log(
        `mail: run ${job.data.runId} ${job.data.type} to ${job.data.to.join(', ')} (${where})`,
      );
    },
    { connection, prefix, concurrency },
  );
  worker.on('failed', (job, err) =>
    log.warn(
      `mail ${job?.id ?? '?'} (run ${job?.data.runId ?? '?'}) attempt ${job?.attemptsMade ?? '?'} failed: ${err.message}`,
    ),
  );
  worker.on('error', (err) => log.warn(`mail queue: ${err.message}`));
  return worker;
}

/**
 * Turns the outbox's `running`, `complete` and `failed` events into mail jobs
 * for the roles the run's workflow definition names in `notify`, and marks
 * each event notified in the same transaction that enqueued it. Rows are taken
 * with SKIP LOCKED, so every worker may run a notifier; the job id makes a
 * repeat after a crash harmless. Woken by NOTIFY on each commit of events,
 * with a slow timer as a safety net.
 */
export class Notifier {
  private listener: PgListener | null = null;
  private stopped = false;
  private readonly wakeup = new Wakeup();
  private loop: Promise<void> | null = null;
  enqueued = 0;

  constructor(
    private readonly db: Database,
    private readonly catalog: WorkflowCatalog,
    private readonly queue: Queue<MailJob>,
    private readonly roles: Record<string, string[]>,
    private readonly log: Log,
    private readonly idleMs = 5_000,
    private readonly batchSize = 100,
    /** Mail is not urgent to the millisecond: under load, one pass per this many ms at most. */
    private readonly minGapMs = 200,
  ) {}

  async start(): Promise<void> {
    this.listener = await wakeOnNotify(this.db.url, EVENTS_CHANNEL, this.wakeup);
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const n = await this.tick();
        if (n < this.batchSize) {
          await new Promise((r) => setTimeout(r, this.minGapMs));
          await this.wakeup.sleep(this.idleMs);
        }
      } catch (e) {
        if (!this.stopped) this.log.warn(`notifier: ${(e as Error).message}; retrying`);
        await this.wakeup.sleep(1_000);
      }
    }
  }

  /** Handles one batch of un-notified events; returns how many it took. */
  async tick(): Promise<number> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.query<{ id: string; body: WfsEvent; digest: string }>(
        `SELECT e.id, e.body, r.workflow_digest AS digest
           FROM events e JOIN runs r ON r.id = e.run_id
          WHERE e.notified_at IS NULL AND e.type IN (${UNNOTIFIED_TYPES})
          ORDER BY e.id
          LIMIT $1
          FOR UPDATE OF e SKIP LOCKED`,
        [this.batchSize],
      );
      if (rows.length === 0) return 0;
      const jobs: MailJob[] = [];
      for (const { body, digest } of rows) {
        const def = await this.definition(digest, body);
        if (!def) continue;
        const type = body.type as NoticeEventType;
        const who = recipients(def, type, this.roles, body.gate?.job ?? null);
        if (who.unknown.length > 0) {
          this.log.warn(
            `notifier: ${def.name} names notify role(s) ${who.unknown.join(', ')} that WFS_MAIL_ROLES does not map to addresses`,
          );
        }
        if (who.to.length === 0) continue;
        const { subject, text } = composeMail(body, def);
        jobs.push({
          messageId: body.messageId,
          runId: body.runId,
          type,
          roles: who.roles,
          to: who.to,
          subject,
          text,
        });
      }
      if (jobs.length > 0) {
        await this.queue.addBulk(
          jobs.map((data) => ({
            name: data.type,
            data,
            opts: { ...MAIL_JOB_OPTIONS, jobId: data.messageId },
          })),
        );
      }
      await tx.query('UPDATE events SET notified_at = now() WHERE id = ANY($1::bigint[])', [
        rows.map((r) => r.id),
      ]);
      this.enqueued += jobs.length;
      return rows.length;
    });
  }

  /** The run's own definition; a digest unknown to the database (cannot happen: FK) is logged and skipped. */
  private async definition(digest: string, event: WfsEvent): Promise<WorkflowDefinition | null> {
    try {
      return await this.catalog.getByDigest(digest);
    } catch (e) {
      if (e instanceof WfsError && e.kind === 'not_found') {
        this.log.warn(
          `notifier: run ${event.runId}: no workflow definition ${digest}; no mail for ${event.type}`,
        );
        return null;
      }
      throw e;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeup.poke();
    await this.loop;
    await this.listener?.close();
  }
}
