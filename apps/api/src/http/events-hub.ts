import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  OnApplicationShutdown,
} from '@nestjs/common';
import { WFS_CONFIG } from '@wfs/config';
import type { WfsConfig } from '@wfs/config';
import { EVENTS_CHANNEL } from '@wfs/events';
import { PgListener } from '@wfs/persistence';

/**
 * Fans Postgres NOTIFYs about new events out to the SSE streams of this API
 * process: one LISTEN connection however many clients watch. When the API
 * stops, it ends the streams first (the HTTP server cannot close while they
 * are open; clients resume elsewhere with Last-Event-ID).
 */
@Injectable()
export class EventsHub implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly watchers = new Map<number, Set<() => void>>();
  private readonly enders = new Set<() => void>();
  private listener: PgListener | null = null;

  constructor(@Inject(WFS_CONFIG) private readonly config: WfsConfig) {}

  /** Calls onNews when the run has new events, and end() when the API stops; returns the unwatch. */
  async watch(runId: number, onNews: () => void, end: () => void): Promise<() => void> {
    if (!this.listener) {
      // After a reconnect notifications may have been missed: wake everyone to re-read.
      this.listener = new PgListener(this.config.databaseUrl, () => this.wakeAll());
      // The payload names the runs with new events, comma-separated ('*': too many to name).
      await this.listener.listen(EVENTS_CHANNEL, (payload) =>
        payload === '*'
          ? this.wakeAll()
          : payload.split(',').forEach((id) => this.wake(Number(id))),
      );
    }
    const set = this.watchers.get(runId) ?? new Set();
    set.add(onNews);
    this.watchers.set(runId, set);
    this.enders.add(end);
    return () => {
      set.delete(onNews);
      if (set.size === 0) this.watchers.delete(runId);
      this.enders.delete(end);
    };
  }

  private wake(runId: number): void {
    for (const fn of this.watchers.get(runId) ?? []) fn();
  }

  private wakeAll(): void {
    for (const set of this.watchers.values()) for (const fn of set) fn();
  }

  beforeApplicationShutdown(): void {
    for (const end of [...this.enders]) end();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.listener?.close();
  }
}
