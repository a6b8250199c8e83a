import { createHash } from 'node:crypto';
import { DataSource } from 'typeorm';
import { Client, Pool, QueryConfig, QueryResult } from 'pg';
import { MIGRATIONS } from '@wfs/migrations';
import { typeOrmOptions } from './typeorm-options';

/** A transaction's handle: raw, reviewed SQL with numbered parameters. */
export interface Tx {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /**
   * Several statements without parameters in one round trip (the simple
   * protocol); the rows of each. Only for SQL whose every value the caller
   * has checked (integers, identifiers): nothing is escaped here.
   */
  script(sql: string): Promise<Array<Record<string, unknown>[]>>;
}

const statementNames = new Map<string, string>();

/** The rows of each statement of a simple query (pg answers one result, or an array of them). */
function rowsOfEach(r: QueryResult | QueryResult[]): Array<Record<string, unknown>[]> {
  return (Array.isArray(r) ? r : [r]).map((x) => x.rows);
}

/**
 * A query with parameters goes as a named prepared statement: each
 * connection parses and plans a statement once, not on every call (the
 * service's statements are a fixed set of texts; on this kind of machine
 * parse and plan cost the server about as much as the execution).
 */
export function prepared(sql: string, params: unknown[]): QueryConfig | string {
  if (params.length === 0) return sql;
  let name = statementNames.get(sql);
  if (name === undefined) {
    name = 'wfs_' + createHash('sha1').update(sql).digest('hex').slice(0, 24);
    if (statementNames.size < 5000) statementNames.set(sql, name);
  }
  return { name, text: sql, values: params };
}

/**
 * The service's Postgres access: one pg pool for queries and transactions
 * (plain, reviewed SQL: the hot paths need control over round trips and
 * locks that an ORM's unit of work would hide), and TypeORM for the schema's
 * migrations (never synchronize). The entities (./entities) serve simple
 * reads through @nestjs/typeorm (persistence.module.ts); see
 * docs/architecture.md, "Entities and reviewed SQL".
 */
export class Database implements Tx {
  readonly pool: Pool;

  constructor(
    readonly url: string,
    poolSize = 10,
  ) {
    this.pool = new Pool({
      connectionString: url,
      max: poolSize,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
      // A process cut off from the database mid-transaction would hold its row locks (a run's)
      // until TCP gives up, hours later: Postgres ends a transaction silent this long instead.
      options: '-c idle_in_transaction_session_timeout=60s',
    });
    // An idle client losing its connection (server restart, pg_terminate_backend) is
    // dropped from the pool; the next query opens a new one.
    this.pool.on('error', () => undefined);
    // The pool listens for that only while a client is idle: one killed while checked out, between
    // two queries of a transaction, would emit an unhandled 'error' and end the process. Swallowed
    // here, its next query fails instead, and the caller releases it as broken.
    this.pool.on('connect', (client) => client.on('error', () => undefined));
  }

  async open(): Promise<this> {
    const client = await this.pool.connect();
    client.release();
    return this;
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.pool.query(prepared(sql, params) as QueryConfig)).rows as T[];
  }

  async script(sql: string): Promise<Array<Record<string, unknown>[]>> {
    return rowsOfEach(await this.pool.query(sql));
  }

  /**
   * Runs fn in one READ COMMITTED transaction; rolled back if it throws.
   * BEGIN is sent with the first statement when that one has no parameters
   * (one round trip fewer: `BEGIN; <statement>` in one simple query).
   */
  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken = false;
    let begun = false;
    /** Sends a statement without parameters, with the BEGIN in front when it is the first. */
    const simple = async (sql: string) => {
      if (begun) return rowsOfEach(await client.query(sql));
      begun = true;
      return rowsOfEach(await client.query(`BEGIN; ${sql}`)).slice(1);
    };
    try {
      const result = await fn({
        query: async <R>(sql: string, params: unknown[] = []) => {
          if (params.length === 0) return (await simple(sql)).at(-1) as R[];
          if (!begun) {
            begun = true;
            await client.query('BEGIN');
          }
          return (await client.query(prepared(sql, params) as QueryConfig)).rows as R[];
        },
        script: simple,
      });
      if (begun) await client.query('COMMIT');
      return result;
    } catch (e) {
      if (begun)
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
      throw e;
    } finally {
      client.release(broken);
    }
  }

  /** Refuses to serve on a schema older than the code: names what `npm run db:migrate` would apply. */
  async assertMigrated(): Promise<void> {
    const applied = await this.query<{ name: string }>('SELECT name FROM migrations').catch(
      () => [] as Array<{ name: string }>,
    );
    const done = new Set(applied.map((r) => r.name));
    const pending = MIGRATIONS.map((m) => m.name).filter((n) => !done.has(n));
    if (pending.length > 0) {
      throw new Error(
        `the database schema is behind the code (pending: ${pending.join(', ')}); run npm run db:migrate`,
      );
    }
  }

  /** Applies pending migrations through TypeORM, on a connection of its own. */
  async migrate(): Promise<string[]> {
    const dataSource = new DataSource(typeOrmOptions(this.url, 1));
    await dataSource.initialize();
    try {
      const done = await dataSource.runMigrations({ transaction: 'each' });
      return done.map((m) => m.name);
    } finally {
      await dataSource.destroy();
    }
  }
}

/** Creates the database named in the URL when it does not exist yet (setup and tests). */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      await client
        .query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`)
        .catch((e: { code?: string }) => {
          if (e.code !== '42P04') throw e; // created meanwhile by another process
        });
    }
  } finally {
    await client.end();
  }
}

export async function dropDatabase(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name.replace(/"/g, '""')}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/** SQLSTATE classes of a lost or refused connection: 08 connection exception, 57P operator intervention (terminated, shutting down). */
const CONNECTION_SQLSTATE = /^(08|57P)/;
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
const CONNECTION_MESSAGES =
  /Connection terminated|not queryable|timeout exceeded when trying to connect|Client was closed/i;

/**
 * Whether an error means Postgres was unreachable or the connection was lost
 * (a transient outage worth retrying), rather than a fault of the statement.
 */
export function isConnectionLoss(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown } | null;
  if (!err || typeof err !== 'object') return false;
  const code = typeof err.code === 'string' ? err.code : '';
  return (
    CONNECTION_SQLSTATE.test(code) ||
    CONNECTION_CODES.has(code) ||
    (typeof err.message === 'string' && CONNECTION_MESSAGES.test(err.message))
  );
}
