import 'reflect-metadata';
import { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WfsConfig } from '@wfs/config';
import { createLogger, NestPinoLogger } from '@wfs/logging';
import { WorkerModule } from './worker.module';

export async function createWorker(config: WfsConfig): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config), {
    logger: new NestPinoLogger(
      createLogger({ process: 'worker', level: config.logLevel, format: config.logFormat }),
    ),
    abortOnError: false,
  });
  app.enableShutdownHooks();
  await app.init();
  return app;
}
