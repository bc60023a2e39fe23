import { DataSource, type DataSourceOptions, type Logger } from 'typeorm';
import { Tenancy } from '../../src/index.js';
import { entities } from './entities.js';

export type DbKind = 'sqlite' | 'postgres';

/**
 * A logger every benchmark DataSource gets: it counts statements and, while `capturing`, keeps
 * them (SQL printed beside EXPLAIN; "creating a manager runs no query"). The cost — one call and
 * one increment per statement — is the same for every variant.
 */
export class CaptureLogger implements Logger {
  capturing = false;
  count = 0;
  readonly queries: Array<{ sql: string; parameters: unknown[] }> = [];
  logQuery(query: string, parameters?: unknown[]): void {
    this.count++;
    if (this.capturing) this.queries.push({ sql: query, parameters: parameters ?? [] });
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}

  /** Runs fn and returns the statements it sent. */
  async capture(fn: () => Promise<unknown>): Promise<Array<{ sql: string; parameters: unknown[] }>> {
    this.queries.length = 0;
    this.capturing = true;
    try {
      await fn();
    } finally {
      this.capturing = false;
    }
    return [...this.queries];
  }
}

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
  new Tenancy(ds);
  await ds.initialize();
  await ds.destroy();
}
