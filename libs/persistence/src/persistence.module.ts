import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { WFS_CONFIG } from '@wfs/config';
import type { WfsConfig } from '@wfs/config';
import { Database } from './database';
import { typeOrmOptions } from './typeorm-options';

/**
 * Postgres for both roles: the `Database` pool (reviewed SQL, the hot paths)
 * and TypeORM's DataSource with the entities (simple reads; a module that
 * reads through a repository imports `TypeOrmModule.forFeature`). The
 * DataSource needs few connections: two.
 */
@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [WFS_CONFIG],
      useFactory: (config: WfsConfig) => ({
        ...typeOrmOptions(config.databaseUrl, 2),
        // Boot fails at once when Postgres is unreachable, as the Database pool's does.
        retryAttempts: 0,
      }),
    }),
  ],
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
  exports: [Database, TypeOrmModule],
})
export class PersistenceModule implements OnApplicationShutdown {
  constructor(@Inject(Database) private readonly db: Database) {}

  async onApplicationShutdown(): Promise<void> {
    await this.db.close();
  }
}
