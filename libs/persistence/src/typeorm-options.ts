import type { DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '@wfs/migrations';
import { ENTITIES } from './entities';

/**
 * The one TypeORM configuration: the migrations (the schema's truth, applied
 * by `npm run db:migrate`, never at boot) and the entities (the schema in
 * code, for simple reads). Never `synchronize`: a schema change is a reviewed
 * migration, and test/schema-entities.test.ts keeps the entities in step.
 */
export function typeOrmOptions(url: string, poolSize: number): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    synchronize: false,
    migrationsRun: false,
    migrations: MIGRATIONS,
    entities: ENTITIES,
    extra: {
      max: poolSize,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
      // As the service's pool (database.ts): a transaction cut off does not hold its locks for hours.
      options: '-c idle_in_transaction_session_timeout=60s',
    },
  };
}
