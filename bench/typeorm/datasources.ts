import { DataSource, type DataSourceOptions, type Logger } from 'typeorm';
import { CaptureLogger } from '../lib/capture-logger.js';
import { Tenancy } from '../../src/index.js';
import { entities } from './entities.js';
import { compositeKeysOption } from '../lib/keys.js';

export type { DbKind } from '../lib/shape.js';
import type { DbKind } from '../lib/shape.js';
export { CaptureLogger };

/** Options for one more DataSource on the benchmark database (sqlite file or postgres url). */
export function dataSourceOptions(db: DbKind, target: string, logger: Logger, extra: Partial<DataSourceOptions> = {}): DataSourceOptions {
  const common = { entities, logger, synchronize: false };
  const options: DataSourceOptions =
    db === 'sqlite'
      ? { type: 'better-sqlite3', database: target, enableWAL: true, ...common }
      : { type: 'postgres', url: target, ...common };
  return { ...options, ...extra } as DataSourceOptions;
}

/** A plain TypeORM DataSource: no Tenancy attached. */
export async function plainDataSource(db: DbKind, target: string, logger: Logger): Promise<DataSource> {
  return new DataSource(dataSourceOptions(db, target, logger)).initialize();
}

/** Creates the tables (with the library's foreign keys) through a Tenancy DataSource that synchronizes once. */
export async function createSchema(db: DbKind, target: string): Promise<void> {
  const ds = new DataSource(dataSourceOptions(db, target, new CaptureLogger(), { synchronize: true }));
  new Tenancy(ds, compositeKeysOption());
  await ds.initialize();
  await ds.destroy();
}
