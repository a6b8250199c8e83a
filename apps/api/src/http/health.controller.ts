import * as fs from 'node:fs';
import { Controller, Get, Inject, OnApplicationShutdown, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Redis } from 'ioredis';
import { Public } from '@wfs/auth';
import { WFS_CONFIG } from '@wfs/config';
import type { WfsConfig } from '@wfs/config';
import { REDIS } from '@wfs/dispatch';
import { BrokerProbe } from '@wfs/events';
import { Database } from '@wfs/persistence';
import { ApiOp } from './api-op';

const within = <T>(p: Promise<T>, ms: number): Promise<T> =>
  Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timeout')), ms).unref()),
  ]);

@ApiTags('operations')
@Controller()
export class HealthController implements OnApplicationShutdown {
  private readonly broker: BrokerProbe;

  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(WFS_CONFIG) private readonly config: WfsConfig,
  ) {
    this.broker = new BrokerProbe(config.amqpUrl);
  }

  /** 200 when Postgres, Redis, the broker and the roots all answer; 503 naming what does not. */
  @ApiOp({
    summary: 'Health of Postgres, Redis, the broker and the roots',
    responses: {
      200: 'Health',
      503: { answer: 'Health', description: 'One of them is down (named in checks)' },
    },
  })
  @Get('health')
  @Public()
  async health(@Res() res: Response) {
    const check = async (fn: () => Promise<unknown>) =>
      within(fn(), 2500).then(
        () => 'up' as const,
        () => 'down' as const,
      );
    const roots = [this.config.processingRoot, this.config.qaRoot, ...this.config.resultsRoots];
    const checks = {
      postgres: await check(() => this.db.query('SELECT 1')),
      redis: await check(() => this.redis.ping()),
      broker: await check(async () => {
        if (!(await this.broker.isUp())) throw new Error('down');
      }),
      roots: await check(() =>
        Promise.all(roots.map((r) => fs.promises.access(r, fs.constants.W_OK))),
      ),
    };
    const ok = Object.values(checks).every((v) => v === 'up');
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'degraded', checks });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.broker.close();
  }
}
