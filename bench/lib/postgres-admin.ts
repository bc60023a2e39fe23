import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const defaultPgUrl = 'postgres://postgres@127.0.0.1:5432/postgres';

async function adminQuery(adminUrl: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Why the server cannot be used, or undefined when it answers. */
export async function unreachable(adminUrl: string): Promise<string | undefined> {
  try {
    await adminQuery(adminUrl, 'SELECT 1');
    return undefined;
  } catch (error) {
    return String(error);
  }
}

export async function serverVersion(adminUrl: string): Promise<string> {
  return String((await adminQuery(adminUrl, 'SHOW server_version')).rows[0]?.server_version ?? 'unknown');
}

/** CREATE DATABASE tenancy_bench_<random>; returns its url and a drop function. */
export async function createBenchDatabase(adminUrl: string): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `tenancy_bench_${randomBytes(5).toString('hex')}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
  // Commits wait for no disk flush in this database only: the variants send the same statements,
  // and on this VM an fsync takes milliseconds with a long tail that would drown what is measured.
  await adminQuery(adminUrl, `ALTER DATABASE ${name} SET synchronous_commit = off`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: async () => {
      await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
