import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { startPostgres, type PostgresServer } from './postgres-cluster.js';

export { freePort, type PostgresServer } from './postgres-cluster.js';

/** The machine's PostgreSQL binaries (Debian layout), if any. */
function systemBinaries(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const version = readdirSync(root).sort().at(-1);
  const bin = version && join(root, version, 'bin');
  return bin && existsSync(join(bin, 'initdb')) ? bin : undefined;
}

/**
 * Starts a throwaway PostgreSQL server on a free loopback port (a shard, a server to kill), trusting
 * loopback connections: with the machine's binaries, else with those of the embedded PostgreSQL
 * global-setup found (`pgBin`). Undefined when there are neither.
 */
export async function startSecondPostgres(): Promise<PostgresServer | undefined> {
  const bin = systemBinaries() ?? (inject('pgBin') || undefined);
  return bin ? startPostgres(bin) : undefined;
}
