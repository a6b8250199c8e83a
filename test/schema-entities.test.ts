import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { Database, dropDatabase, ensureDatabase, ENTITIES, typeOrmOptions } from '@wfs/persistence';

/**
 * The entities are the schema in code; the migrations are its truth. On a
 * fresh database with every migration applied, TypeORM's schema builder must
 * find nothing to change (a migration generated from the entities would be
 * empty), and every table the migrations made must have an entity. A
 * migration added without its entity change (a new column, a new table)
 * fails here, naming what differs.
 *
 * What the schema builder does not compare (TypeORM 0.3): an index's column
 * order (DESC) and WHERE clause, a CHECK's expression. Those are checked below
 * by name only; their text lives in the migrations.
 */
const base = process.env.WFS_TEST_DATABASE_BASE ?? 'postgres://postgres@127.0.0.1:5432';
const url = `${base}/wfs_entities_${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
let orm: DataSource;

beforeAll(async () => {
  await ensureDatabase(url);
  const db = await new Database(url, 1).open();
  try {
    await db.migrate();
  } finally {
    await db.close();
  }
  orm = await new DataSource(typeOrmOptions(url, 2)).initialize();
});

afterAll(async () => {
  await orm?.destroy();
  await dropDatabase(url);
});

test('a migration generated from the entities after every migration is empty', async () => {
  const sql = await orm.driver.createSchemaBuilder().log();
  const drift = sql.upQueries.map((q) => q.query);
  expect(drift).toEqual([]);
});

test('every table the migrations create has an entity, and no entity lacks its table', async () => {
  const tables = (
    await orm.query<Array<{ table_name: string }>>(
      `SELECT table_name FROM information_schema.tables
        WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'migrations'`,
    )
  ).map((r) => r.table_name);
  const mapped = orm.entityMetadatas.map((m) => m.tableName);
  expect({ tablesWithoutEntity: tables.filter((t) => !mapped.includes(t)).sort() }).toEqual({
    tablesWithoutEntity: [],
  });
  expect({ entitiesWithoutTable: mapped.filter((t) => !tables.includes(t)).sort() }).toEqual({
    entitiesWithoutTable: [],
  });
  expect(ENTITIES).toHaveLength(mapped.length);
});

test('indexes, unique and check constraints are named in the entities as in the migrations', async () => {
  const indexes = await orm.query<Array<{ table: string; name: string }>>(
    `SELECT tablename AS table, indexname AS name FROM pg_indexes
      WHERE schemaname = 'public' AND tablename <> 'migrations'`,
  );
  const checks = await orm.query<Array<{ table: string; name: string }>>(
    `SELECT rel.relname AS table, c.conname AS name FROM pg_constraint c
       JOIN pg_class rel ON rel.oid = c.conrelid JOIN pg_namespace n ON n.oid = rel.relnamespace
      WHERE n.nspname = 'public' AND c.contype = 'c' AND rel.relname <> 'migrations'`,
  );
  const named = new Map<string, Set<string>>();
  for (const m of orm.entityMetadatas) {
    const names = new Set<string>([
      ...m.indices.map((i) => i.name),
      ...m.uniques.map((u) => u.name),
      ...m.checks.map((c) => c.name),
    ]);
    const pk = m.primaryColumns[0]?.primaryKeyConstraintName;
    if (pk) names.add(pk);
    named.set(m.tableName, names);
  }
  const unnamed = [...indexes, ...checks]
    .filter((i) => !named.get(i.table)?.has(i.name))
    .map((i) => `${i.table}.${i.name}`)
    .sort();
  expect({ inDatabaseNotInEntities: unnamed }).toEqual({ inDatabaseNotInEntities: [] });
});
