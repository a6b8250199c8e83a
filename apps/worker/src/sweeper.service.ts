import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { WFS_CONFIG } from '@wfs/config';
import type { WfsConfig } from '@wfs/config';
import { Sweeper } from '@wfs/operations';
import { Database } from '@wfs/persistence';

/**
 * Sweeps expired run directories out of the processing area (and old image
 * cache entries, and with WFS_JOB_ROWS_RETENTION_DAYS the job rows of old
 * runs) every WFS_SWEEP_INTERVAL_SECONDS (a timer in each worker; the
 * Sweeper's advisory lock lets one sweep at a time, see
 * libs/operations/src/sweep-processing-area.ts).
 */
/** After a failed sweep, the next try comes this soon (or at the interval, if sooner). */
const RETRY_AFTER_FAILURE_MS = 60_000;

@Injectable()
export class SweeperService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('sweeper');
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = false;
  sweeper: Sweeper | null = null;

  constructor(
    @Inject(WFS_CONFIG) private readonly config: WfsConfig,
    @Inject(Database) private readonly db: Database,
  ) {}

  onApplicationBootstrap(): void {
    const c = this.config;
    this.sweeper = new Sweeper(
      this.db,
      {
        processingRoot: c.processingRoot,
        retentionDays: c.processingRetentionDays,
        cache: { root: c.cacheRoot, retentionDays: c.cacheRetentionDays },
        ...(c.jobRowsRetentionDays !== null
          ? { rows: { retentionDays: c.jobRowsRetentionDays } }
          : {}),
      },
      this.log,
    );
    // First sweep soon after start (spread over workers), then every interval.
    this.schedule(
      Math.min(c.sweepIntervalSeconds * 1000, 5_000 + Math.floor(Math.random() * 5_000)),
    );
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      // A sweep that failed (the database away, the link down) is tried again within a minute,
      // not a whole interval later.
      let next = this.config.sweepIntervalSeconds * 1000;
      this.running = this.sweeper!.sweepOnce()
        .then((r) => {
          if (r && (r.expired.length > 0 || r.skipped.length > 0 || r.pruned.length > 0)) {
            this.log.log(
              `swept: ${r.expired.length} run(s) expired, ${r.skipped.length} skipped, ${r.pruned.length} run(s) lost their job rows`,
            );
          }
        })
        .catch((e: Error) => {
          next = Math.min(next, RETRY_AFTER_FAILURE_MS);
          this.log.warn(`sweep failed: ${e.message}; next try in ${Math.round(next / 1000)} s`);
        })
        .finally(() => {
          this.running = null;
          this.schedule(next);
        });
    }, ms);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
