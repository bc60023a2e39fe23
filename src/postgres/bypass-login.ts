import type { DataSource, QueryRunner } from 'typeorm';
import type { PostgresConnectionCredentialsOptions } from 'typeorm/driver/postgres/PostgresConnectionCredentialsOptions.js';
import { afterDestroy, createPostgresPool, obtainConnectionsFrom, type PgPool } from '../internal/typeorm/postgres-connection.js';
import { watchConnectionErrors } from './connection-hygiene.js';
import type { BypassLogin } from './rls-options.js';

// `{ safe: false }` under row-level security through a login of its own: a BYPASSRLS role the
// application role is not a member of, on a pool of its own. The application's connections
// then cannot reach the bypass by any SQL (SET ROLE fails without membership), whatever
// a function the vetting cannot see into does.

const pools = new WeakMap<DataSource, Promise<PgPool>>();
const bypassRunners = new WeakSet<QueryRunner>();

/** The DataSource's credentials with the bypass login's user and password (a `url` is rewritten). */
export function bypassCredentials(dataSource: DataSource, login: BypassLogin): PostgresConnectionCredentialsOptions {
  const options = dataSource.options as { replication?: { master: PostgresConnectionCredentialsOptions } } & PostgresConnectionCredentialsOptions;
  const base = options.replication?.master ?? options;
  const credentials: PostgresConnectionCredentialsOptions = { ...base, username: login.username, password: login.password };
  if (!base.url) return credentials;
  // node-postgres lets the parts of a connection string win over separate fields.
  const url = new URL(base.url);
  url.username = encodeURIComponent(login.username);
  url.password = login.password === undefined ? '' : encodeURIComponent(login.password);
  return { ...credentials, url: url.toString() };
}

function poolOf(dataSource: DataSource, login: BypassLogin): Promise<PgPool> {
  let pool = pools.get(dataSource);
  if (!pool) {
    pool = createPostgresPool(dataSource, bypassCredentials(dataSource, login)).then((created) => {
      watchConnectionErrors(created);
      return created;
    });
    pools.set(dataSource, pool);
    const created = pool;
    afterDestroy(dataSource, async () => {
      if (pools.get(dataSource) === created) pools.delete(dataSource);
      await (await created).end();
    });
  }
  return pool;
}

/** A runner of `dataSource` whose connection comes from the bypass login's pool (made on first use). */
export function createBypassRunner(dataSource: DataSource, login: BypassLogin): QueryRunner {
  const runner = dataSource.createQueryRunner();
  obtainConnectionsFrom(runner, () => poolOf(dataSource, login));
  bypassRunners.add(runner);
  return runner;
}

/** True for a runner made by `createBypassRunner`: it is the bypass role already, no SET ROLE. */
export function isBypassRunner(runner: QueryRunner): boolean {
  return bypassRunners.has(runner);
}
