import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { inject } from 'vitest';

export type DatabaseKind = 'sqlite' | 'postgres' | 'mariadb';

export interface TestDatabase {
  kind: DatabaseKind;
  /** DataSource options without `entities` (type, database/url, plus logging false). */
  options:
    | { type: 'better-sqlite3'; database: string; logging: false }
    | { type: 'postgres'; url: string; logging: false }
    | { type: 'mariadb'; url: string; logging: false };
  /** Drops the database (postgres) or does nothing (sqlite). */
  drop(): Promise<void>;
}

/** The databases a conformance test should loop over: sqlite always; postgres when a server is available (pgUrl from inject('pgUrl')). */
export function databaseKinds(): DatabaseKind[] {
  if (adminUrl()) return ['sqlite', 'postgres'];
  // global-setup already fails a CI run without a server; this guards against a silent skip anyway.
  if (process.env.CI === 'true') throw new Error('No PostgreSQL server for tests in CI (pgUrl is empty).');
  return ['sqlite'];
}

/** Creates a fresh empty database of that kind: sqlite ':memory:'; postgres: CREATE DATABASE tenancy_<random> on the server, returns its url. */
export async function createTestDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  if (kind === 'sqlite') {
    return { kind, options: { type: 'better-sqlite3', database: ':memory:', logging: false }, drop: async () => {} };
  }
  if (kind === 'mariadb') return createMariaDbDatabase();
  const name = `tenancy_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(requireAdminUrl());
  url.pathname = `/${name}`;
  return {
    kind,
    options: { type: 'postgres', url: url.toString(), logging: false },
    // FORCE ends connections a test left open, so a failed test cannot block the drop.
    drop: async () => {
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** Runs SQL as the admin (server default database) — for tests that need roles etc. */
export async function adminQuery(sql: string, params?: unknown[]): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: requireAdminUrl() });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows;
  } finally {
    await client.end();
  }
}

function adminUrl(): string {
  return inject('pgUrl');
}

function requireAdminUrl(): string {
  const url = adminUrl();
  if (!url) throw new Error('No PostgreSQL server for tests: set PG_TEST_URL or let global-setup start one.');
  return url;
}

// MariaDB / MySQL: the machine's server (MARIADB_TEST_URL, default root@127.0.0.1:3306). The
// conformance suite adds it; outside CI it is skipped when unreachable, in CI never.
const mariaDbUrl = process.env.MARIADB_TEST_URL ?? 'mysql://root@127.0.0.1:3306/test';

async function mariaDbReachable(): Promise<boolean> {
  try {
    const connection = await mysql.createConnection({ uri: mariaDbUrl, connectTimeout: 2_000 });
    await connection.end();
    return true;
  } catch {
    return false;
  }
}

/** The databases of the conformance suite: databaseKinds() plus MariaDB when it answers (always in CI). */
export async function conformanceKinds(): Promise<DatabaseKind[]> {
  const kinds = databaseKinds();
  if (await mariaDbReachable()) return [...kinds, 'mariadb'];
  if (process.env.CI === 'true') throw new Error(`MariaDB is unreachable at ${mariaDbUrl} in CI.`);
  console.warn(`[tests] MariaDB unreachable at ${mariaDbUrl}: its conformance runs are SKIPPED.`);
  return kinds;
}

async function createMariaDbDatabase(): Promise<TestDatabase> {
  const name = `tenancy_${randomBytes(6).toString('hex')}`;
  const admin = await mysql.createConnection({ uri: mariaDbUrl });
  try {
    await admin.query(`CREATE DATABASE \`${name}\``);
  } finally {
    await admin.end();
  }
  const url = new URL(mariaDbUrl);
  url.pathname = `/${name}`;
  return {
    kind: 'mariadb',
    options: { type: 'mariadb', url: url.toString(), logging: false },
    drop: async () => {
      const connection = await mysql.createConnection({ uri: mariaDbUrl });
      try {
        await connection.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await connection.end();
      }
    },
  };
}
