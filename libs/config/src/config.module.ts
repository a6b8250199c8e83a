import { DynamicModule, Global, Module } from '@nestjs/common';
import { WfsConfig } from './config';

export const WFS_CONFIG = Symbol('WFS_CONFIG');

/** The validated configuration, given once by the app that boots. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: WfsConfig): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: WFS_CONFIG, useValue: config }],
      exports: [WFS_CONFIG],
    };
  }
}
