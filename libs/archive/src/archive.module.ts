import { Global, Module } from '@nestjs/common';
import { WFS_CONFIG } from '@wfs/config';
import type { WfsConfig } from '@wfs/config';
import { Database } from '@wfs/persistence';
import { ARCHIVE } from './archive';
import { LocalArchive } from './local-archive';

/** The archive port, bound to the embedded LocalArchive (a site binds its real archive here instead). */
@Global()
@Module({
  providers: [
    {
      provide: ARCHIVE,
      inject: [Database, WFS_CONFIG],
      useFactory: (db: Database, c: WfsConfig) => new LocalArchive(db, c.archiveRoot),
    },
  ],
  exports: [ARCHIVE],
})
export class ArchiveModule {}
