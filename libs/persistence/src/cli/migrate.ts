import { loadConfig } from '@wfs/config';
import { Database, ensureDatabase } from '../database';

/** `npm run db:migrate`: creates the database if needed and applies pending migrations. */
async function main(): Promise<void> {
  const config = loadConfig();
  await ensureDatabase(config.databaseUrl);
  const db = await new Database(config.databaseUrl, 1).open();
  try {
    const applied = await db.migrate();
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
  } finally {
    await db.close();
  }
}

main().catch((e: Error) => {
  console.error(`db:migrate failed: ${e.message}`);
  process.exit(1);
});
