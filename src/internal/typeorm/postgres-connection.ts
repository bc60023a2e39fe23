import type { DataSource, QueryRunner } from 'typeorm';
import type { PostgresConnectionCredentialsOptions } from 'typeorm/driver/postgres/PostgresConnectionCredentialsOptions.js';

// What tenancy reads or calls on TypeORM's PostgreSQL driver and query runner, and on the
// node-postgres client and pool behind them. Checked against typeorm 1.1.1, pg 8.23 and
// pg-pool 3.14; test/canary/postgres-internals.test.ts asserts each still exists.

/** The node-postgres client members tenancy reads (`getTransactionStatus()` is pg ≥ 8.21). */
export interface PgClient {
  on(event: 'error', listener: (error: Error) => void): unknown;
  removeListener(event: 'error', listener: (error: Error) => void): unknown;
  /** 'I' idle, 'T' in a transaction, 'E' in a failed transaction; null before the first ReadyForQuery. */
  getTransactionStatus?(): 'I' | 'T' | 'E' | null;
  /** False while a query is on its way (others may be queued behind it): pg's own flag. */
  readyForQuery?: boolean;
}

/** The node-postgres pool members tenancy uses: `connect` with a release callback, `end`, `on('acquire')`. */
export interface PgPool {
  connect(callback: (error: Error | undefined, client: PgClient, release: (error?: Error | boolean) => void) => void): void;
  end(): Promise<void>;
  on(event: 'acquire', listener: (client: PgClient) => void): unknown;
}

interface PostgresRunnerInternals {
  /** Set by `connect()`; stays after release. */
  databaseConnection?: PgClient;
  /** `PostgresQueryRunner#releasePostgresConnection(err)`: with an error, pg-pool destroys the client. */
  releasePostgresConnection?: (error?: Error) => Promise<void>;
  driver: object;
}

interface PostgresDriverInternals {
  master?: PgPool;
  slaves?: PgPool[];
  createPool(options: unknown, credentials: PostgresConnectionCredentialsOptions): Promise<PgPool>;
  obtainMasterConnection(): Promise<[PgClient, (error?: Error | boolean) => void]>;
}

/** The node-postgres client a PostgreSQL runner holds (undefined before it connected, or on another driver). */
export function pgClientOf(runner: QueryRunner): PgClient | undefined {
  return (runner as unknown as PostgresRunnerInternals).databaseConnection;
}

/** True for a PostgresQueryRunner (the only runner whose connection tenancy inspects and destroys). */
export function isPostgresRunner(runner: QueryRunner): boolean {
  return typeof (runner as unknown as PostgresRunnerInternals).releasePostgresConnection === 'function';
}

/**
 * Releases the runner with an error: TypeORM hands it to pg-pool's `release(err)`, which
 * ends the client instead of returning it to the pool (documented pg-pool behaviour).
 */
export async function destroyRunnerConnection(runner: QueryRunner, cause: Error): Promise<void> {
  const internals = runner as unknown as PostgresRunnerInternals;
  if (typeof internals.releasePostgresConnection === 'function') await internals.releasePostgresConnection.call(runner, cause);
  else await runner.release();
}

/** The pools of a PostgreSQL DataSource (master, then replicas); empty before initialize() or on another driver. */
export function poolsOf(dataSource: DataSource): PgPool[] {
  const driver = dataSource.driver as unknown as PostgresDriverInternals;
  return [driver.master, ...(driver.slaves ?? [])].filter((p): p is PgPool => !!p);
}

/**
 * A pool built the way the DataSource builds its own (`extra`, timeouts, ssl, pool error
 * handler), with other credentials: `PostgresDriver#createPool` is protected.
 */
export function createPostgresPool(dataSource: DataSource, credentials: PostgresConnectionCredentialsOptions): Promise<PgPool> {
  const driver = dataSource.driver as unknown as PostgresDriverInternals;
  return driver.createPool.call(driver, dataSource.options, credentials);
}

/**
 * Makes `runner` take its connection from `pool` instead of the DataSource's: the runner
 * reads `this.driver.obtainMasterConnection()` when it connects, so it gets a view of the
 * driver (everything else inherited from the real one) whose method obtains from `pool`.
 */
export function obtainConnectionsFrom(runner: QueryRunner, pool: () => Promise<PgPool>): void {
  const internals = runner as unknown as PostgresRunnerInternals;
  const view = Object.create(internals.driver, {
    obtainMasterConnection: {
      value: async () => {
        const from = await pool();
        return new Promise<[PgClient, (error?: Error | boolean) => void]>((resolve, reject) => {
          from.connect((error, client, release) => (error ? reject(error) : resolve([client, release])));
        });
      },
    },
  }) as object;
  Object.assign(runner, { driver: view });
}

/** Wraps `DataSource#destroy` on this instance: `after` runs once the DataSource's own pools are closed. */
export function afterDestroy(dataSource: DataSource, after: () => Promise<void>): void {
  const original = dataSource.destroy.bind(dataSource);
  Object.assign(dataSource, {
    destroy: async () => {
      try {
        await original();
      } finally {
        await after();
      }
    },
  });
}

/**
 * The node-postgres module TypeORM's driver loaded (`PostgresDriver#postgres`: the `driver`
 * option, or `require('pg')`, or its `.native` with pg-native); set when the DataSource is constructed.
 */
export function pgModuleOf(dataSource: DataSource): unknown {
  return (dataSource.driver as unknown as { postgres?: unknown }).postgres;
}
