import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { WFS_CONFIG } from '@wfs/config';
import type { WfsConfig } from '@wfs/config';
import { Database } from './database';

@Global()
@Module({
  providers: [
    {
      provide: Database,
      inject: [WFS_CONFIG],
      useFactory: async (config: WfsConfig) => {
        const db = await new Database(config.databaseUrl, config.dbPoolSize).open();
        await db.assertMigrated();
        return db;
      },
    },
  ],
  exports: [Database],
})
export class PersistenceModule implements OnApplicationShutdown {
  constructor(@Inject(Database) private readonly db: Database) {}

  async onApplicationShutdown(): Promise<void> {
    await this.db.close();
  }
}
