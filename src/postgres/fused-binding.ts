import type { DataSource } from 'typeorm';
import { type FusingClientOptions, fusingClientClass, type PgClientClass, type PgModule } from '../internal/pg/fusing-client.js';
import { pgModuleOf } from '../internal/typeorm/postgres-connection.js';

// TypeORM merges `extra` into the pg.Pool options, and pg-pool builds its clients from
// `Client`: a fusing subclass there, set before initialize(), is how bound statements get
// their binding in the same round trip (fusing-client.ts). The user's own `extra.Client`, if
// any, is the base class. Where fusing cannot work the DataSource is left as it is and
// operations take the transaction path: pg-native (no wire protocol access), a pg without
// `getTransactionStatus` (< 8.21), a non-pg `driver`. The same class sends the statements of
// `preparedReferenceChecks` (on by default) as named prepared statements (prepared-statements.ts).

const installed = new WeakSet<object>();

/** True when the DataSource's pool will build fusing clients. */
export function installFusingClient(dataSource: DataSource, options: FusingClientOptions): boolean {
  const ds = dataSource.options as { type: string; native?: boolean; extra?: Record<string, unknown> };
  if (ds.type !== 'postgres' || ds.native) return false;
  const pg = pgModuleOf(dataSource) as Partial<PgModule> | undefined;
  if (!pg || typeof pg.Client !== 'function') return false;
  const extra = ds.extra ?? {};
  if (installed.has(extra.Client as object)) return true;
  const Base = (typeof extra.Client === 'function' ? extra.Client : pg.Client) as PgClientClass;
  if (typeof (Base.prototype as { getTransactionStatus?: unknown }).getTransactionStatus !== 'function') return false;
  const Client = fusingClientClass(pg as PgModule, Base, options);
  if (Client === Base) return false;
  installed.add(Client);
  // A new `extra`: the caller's object is left untouched.
  (dataSource.options as { extra?: Record<string, unknown> }).extra = { ...extra, Client };
  return true;
}
