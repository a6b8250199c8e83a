import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { WFS_CONFIG } from '@wfs/config';
import type { WfsConfig } from '@wfs/config';
import { Redis } from 'ioredis';
import { Dispatcher, redisConnection } from './dispatcher';

export const REDIS = Symbol('REDIS');

@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [WFS_CONFIG],
      useFactory: (c: WfsConfig) => redisConnection(c.redisUrl),
    },
    {
      provide: Dispatcher,
      inject: [REDIS, WFS_CONFIG],
      useFactory: (r: Redis, c: WfsConfig) => new Dispatcher(r, c.queuePrefix),
    },
  ],
  exports: [REDIS, Dispatcher],
})
export class DispatchModule implements OnApplicationShutdown {
  constructor(
    @Inject(Dispatcher) private readonly dispatcher: Dispatcher,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.dispatcher.close();
    this.redis.disconnect();
  }
}
