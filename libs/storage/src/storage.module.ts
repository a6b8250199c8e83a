import { Global, Module } from '@nestjs/common';
import { WFS_CONFIG } from '@wfs/config';
import type { WfsConfig } from '@wfs/config';
import { Roots } from './run-directories';

@Global()
@Module({
  providers: [
    {
      provide: Roots,
      inject: [WFS_CONFIG],
      useFactory: (c: WfsConfig) =>
        new Roots(c.processingRoot, c.qaRoot, c.resultsRoots, c.cacheRoot),
    },
  ],
  exports: [Roots],
})
export class StorageModule {}
