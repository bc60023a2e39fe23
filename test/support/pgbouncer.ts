import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** Debian's pgbouncer binary, if installed. */
export function pgbouncerBinary(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    const candidate = join(dir, 'pgbouncer');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Whether the PgBouncer tests can run: in CI the binary must be there (the test fails
 * otherwise); outside CI its absence skips them with a warning.
 */
export function pgbouncerAvailable(): boolean {
  if (pgbouncerBinary()) return true;
  if (process.env.CI === 'true') throw new Error('pgbouncer is not installed in CI (apt-get install pgbouncer; .ci/run installs it).');
  console.warn('[tests] pgbouncer is not installed: the PgBouncer pool-poisoning tests are SKIPPED (apt-get install pgbouncer).');
  return false;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface PgBouncer {
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts a PgBouncer of its own in transaction mode on a free loopback port, in front of
 * `server` (host, port), for `users` (clients trusted; the server gets each user's password), with a pool
 * of `poolSize` server connections per user and database. `stop()` ends it and removes its files.
 */
export async function startPgBouncer(server: { host: string; port: number }, users: Array<{ name: string; password: string }>, poolSize = 1): Promise<PgBouncer> {
  const binary = pgbouncerBinary();
  if (!binary) throw new Error('pgbouncer is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'tenancy-pgbouncer-'));
  // PgBouncer refuses to run as root: it drops to the postgres user, which must read and write here.
  chmodSync(dir, 0o777);
  const port = await freePort();
  // Clients are trusted; the plain passwords listed here are what PgBouncer logs in to the server
  // with (the embedded PostgreSQL asks for one, a trusting server ignores it).
  writeFileSync(join(dir, 'userlist.txt'), users.map((u) => `"${u.name}" "${u.password}"`).join('\n') + '\n');
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${server.host} port=${server.port}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${poolSize}`,
      'max_client_conn = 100',
      'ignore_startup_parameters = extra_float_digits,options,statement_timeout',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  chmodSync(join(dir, 'pgbouncer.ini'), 0o644);
  chmodSync(join(dir, 'userlist.txt'), 0o644);
  const asRoot = process.getuid?.() === 0;
  const child: ChildProcess = spawn(binary, [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], { stdio: 'ignore' });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const stop = async () => {
    if (!exited) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 3000))]);
      if (!exited) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 50 && !exited; i++) {
    if (await accepts(port)) return { port, stop };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  let logged = '';
  try {
    logged = readFileSync(join(dir, 'pgbouncer.log'), 'utf8');
  } catch {
    // no log
  }
  await stop();
  throw new Error(`pgbouncer did not start on port ${port}: ${logged}`);
}
