import 'reflect-metadata';
import { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WfsConfig } from '@wfs/config';
import { WorkerModule } from './worker.module';

export async function createWorker(config: WfsConfig): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config), {
    logger:
      config.logLevel === 'debug'
        ? ['debug', 'log', 'warn', 'error']
        : config.logLevel === 'info'
          ? ['log', 'warn', 'error']
          : ['warn', 'error'],
    abortOnError: false,
  });
  app.enableShutdownHooks();
  await app.init();
  return app;
}
