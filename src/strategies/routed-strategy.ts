import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { DataSource, DataSourceOptions, ObjectLiteral, QueryRunner } from 'typeorm';
import { StorageConflictError, TenancyConfigError, UnknownTenantError } from '../errors.js';
import type { TenantEntityManager } from '../manager/tenant-entity-manager.js';
import { quoteIdentifier } from '../postgres/policy-sql.js';
import type { TenantId } from '../scoping/tenant-key.js';
import { DataSourcePool, derivedDataSource } from './data-source-pool.js';
import type { Route } from './routed-manager.js';
import type { StorageStrategy } from './storage-strategy.js';
import { inOwnTransaction } from './in-transaction.js';

/** Options of `strategy: 'database'`: one database per tenant. */
export interface DatabaseStrategyOptions {
  /**
   * Connection options of a tenant's database (`type`, `url`/`database`, `synchronize` or
   * `migrations` + `migrationsRun`); the entities are the main DataSource's.
   */
  dataSourceOptions: (tenantId: TenantId) => DataSourceOptions;
  /** Tenant DataSources open at once; the least recently used idle one closes first. Defaults to 20. */
  maxOpen?: number;
  /** Closes a tenant DataSource unused this long. Defaults to 5 minutes. */
  idleTimeoutMs?: number;
  /** Creates the empty database. Defaults: PostgreSQL `CREATE DATABASE` through the main DataSource; SQLite creates its file itself. */
  createDatabase?: (tenantId: TenantId, options: DataSourceOptions) => Promise<void>;
  /** Drops it. Defaults: PostgreSQL `DROP DATABASE ... WITH (FORCE)`; SQLite deletes the file. */
  dropDatabase?: (tenantId: TenantId, options: DataSourceOptions) => Promise<void>;
}

/** Options of sharding: row-level tenancy inside each shard, tenants routed to their shard. */
export interface ShardingOptions {
  /** Connection options of each shard by name; the entities are the main DataSource's. */
  shards: Record<string, DataSourceOptions>;
  /** The shard of a tenant (from a rule or a directory table). */
  shardOf: (tenantId: TenantId) => string | Promise<string>;
}

/** What a routed DataSource holds: its DataSource and a manager factory for its tenants. */
export interface RoutedTarget {
  readonly dataSource: DataSource;
  manager(tenantId: TenantId): TenantEntityManager;
}

type Attach = (dataSource: DataSource) => RoutedTarget;

function databaseName(options: DataSourceOptions): string | undefined {
  const withUrl = options as { url?: string; database?: string };
  if (withUrl.url) return decodeURIComponent(new URL(withUrl.url).pathname.replace(/^\//, '')) || undefined;
  return typeof withUrl.database === 'string' ? withUrl.database : undefined;
}

/** The file of an SQLite DataSource, unless it is in memory. */
function sqliteFile(options: DataSourceOptions): string | undefined {
  if (options.type !== 'better-sqlite3') return undefined;
  const file = String(options.database);
  return file === ':memory:' || file === '' ? undefined : file;
}

/** Options that open an existing storage only: better-sqlite3 would otherwise create an empty file. */
function mustExist(options: DataSourceOptions): DataSourceOptions {
  return options.type === 'better-sqlite3' && sqliteFile(options) ? { ...options, fileMustExist: true } : options;
}

/** Driver error code (PostgreSQL SQLSTATE) of a failed query, if any. */
function sqlState(error: unknown): string | undefined {
  const code = (error as { driverError?: { code?: unknown }; code?: unknown } | undefined)?.driverError?.code ?? (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

function conflict(tenantId: TenantId, storage: string, cause?: unknown): StorageConflictError {
  return new StorageConflictError(
    `tenants.create() refused tenant ${JSON.stringify(tenantId)}: its storage ${storage} already exists or holds another tenant. ` +
      'Remove the leftover storage, or give each tenant its own name (dataSourceOptions, schemaName).',
    { operation: 'tenants.create()', tenant: tenantId, cause },
  );
}

/**
 * Copies the tenant row into a routed database, so its scoped tables' foreign key to the
 * tenant table holds there too. In one transaction, a row with the same key is deleted
 * first: the catalog's transaction holds that key, so such a row is a leftover of a create
 * that failed before it could be undone, and its rows go with it (ON DELETE CASCADE).
 */
async function copyTenantRow(target: DataSource, tenantTarget: Function, tenant: ObjectLiteral, replace: boolean): Promise<void> {
  const metadata = target.getMetadata(tenantTarget);
  const columns = metadata.columns.filter((c) => !c.isVirtual && c.getEntityValue(tenant) !== undefined);
  const driver = target.driver;
  const names = columns.map((c) => driver.escape(c.databaseName)).join(', ');
  const params = columns.map((_, i) => driver.createParameter(`p${i}`, i)).join(', ');
  const values = columns.map((c) => driver.preparePersistentValue(c.getEntityValue(tenant), c));
  await inOwnTransaction(target, async (runner) => {
    if (replace) await deleteTenantRow(runner, tenantTarget, metadata.primaryColumns[0]!.getEntityValue(tenant) as TenantId);
    // A raw insert: TypeORM would replace a given serial id with DEFAULT on PostgreSQL.
    await runner.query(`INSERT INTO ${driver.escape(metadata.tablePath)} (${names}) VALUES (${params})`, values);
  });
}

async function deleteTenantRow(runner: QueryRunner, tenantTarget: Function, tenantId: TenantId): Promise<void> {
  const metadata = runner.connection.getMetadata(tenantTarget);
  await runner.manager.createQueryBuilder().delete().from(metadata.target).where({ [metadata.primaryColumns[0]!.propertyName]: tenantId }).execute();
}

/** Brings one routed database's tables up to date: its migrations if it has any, else synchronize. */
async function migrateDataSource(dataSource: DataSource): Promise<void> {
  if (dataSource.migrations.length) await dataSource.runMigrations();
  else await dataSource.synchronize();
}

/**
 * One database per tenant. The tenant table of the main DataSource is the
 * catalog; each tenant database holds the whole schema with row-level scoping
 * inside too (its tenant table holds the one tenant row).
 */
export class DatabaseStrategy implements StorageStrategy, Route {
  readonly kind = 'database';
  readonly #main: DataSource;
  readonly #options: DatabaseStrategyOptions;
  readonly #tenantTarget: () => Function;
  readonly pool: DataSourcePool<RoutedTarget>;

  readonly #attach: Attach;
  /** Tenant ids by pool key (the id as a string), for the catalog lookup as one opens: one small entry per tenant used. */
  readonly #ids = new Map<string, TenantId>();

  /** `exists` asks the catalog: a tenant database opens only for a tenant of the tenant table. */
  constructor(main: DataSource, options: DatabaseStrategyOptions, attach: Attach, tenantTarget: () => Function, exists: (tenantId: TenantId) => Promise<boolean>) {
    this.#main = main;
    this.#options = options;
    this.#tenantTarget = tenantTarget;
    this.#attach = attach;
    this.pool = new DataSourcePool({
      label: 'tenant database',
      maxOpen: options.maxOpen ?? 20,
      idleTimeoutMs: options.idleTimeoutMs ?? 5 * 60_000,
      open: async (key) => {
        const tenantId = this.#ids.get(key) ?? key;
        // A removed (or never created) tenant: no database is opened, and none is created (SQLite).
        if (!(await exists(tenantId))) {
          throw new UnknownTenantError(
            `Tenant ${JSON.stringify(tenantId)} is not in the tenant table (never created, or removed): its database is not opened. Create it with tenancy.tenants.create().`,
            { tenant: tenantId, operation: 'open' },
          );
        }
        const target = attach(derivedDataSource(main, mustExist(options.dataSourceOptions(tenantId))));
        await target.dataSource.initialize();
        return target;
      },
      close: (target) => target.dataSource.destroy(),
    });
  }

  use<R>(tenantId: TenantId, fn: (manager: TenantEntityManager) => Promise<R>): Promise<R> {
    return this.#use(tenantId, (target) => fn(target.manager(tenantId)));
  }

  #use<R>(tenantId: TenantId, fn: (target: RoutedTarget) => Promise<R>): Promise<R> {
    const key = String(tenantId);
    this.#ids.set(key, tenantId);
    return this.pool.use(key, fn);
  }

  peek(tenantId: TenantId): TenantEntityManager | undefined {
    return this.pool.peek(String(tenantId))?.manager(tenantId);
  }

  /**
   * Creates the tenant's database (refusing one that exists: `StorageConflictError`), builds its
   * tables on a DataSource of its own (closed afterwards: the pool opens existing databases
   * only), and copies the tenant row into it.
   */
  async provision(tenantId: TenantId, _runner: QueryRunner, tenant: ObjectLiteral, onRollback: (undo: () => Promise<void>) => void): Promise<void> {
    const options = this.#options.dataSourceOptions(tenantId);
    const file = sqliteFile(options);
    // Ours once created by the built-in steps; a custom createDatabase's only once it proved empty.
    let ours = false;
    onRollback(async () => {
      if (ours) await this.drop(tenantId);
    });
    if (this.#options.createDatabase) await this.#options.createDatabase(tenantId, options);
    else if (options.type === 'postgres') {
      const name = this.#requireName(options, tenantId);
      await this.#main.query(`CREATE DATABASE ${quoteIdentifier(name)}`).catch((error: unknown) => {
        throw sqlState(error) === '42P04' ? conflict(tenantId, `database "${name}"`, error) : error;
      });
      ours = true;
    } else if (file) {
      if (existsSync(file)) throw conflict(tenantId, `file ${file}`);
      ours = true; // SQLite creates it as it opens
    }
    // Its DataSource counts against maxOpen like the pool's own.
    await this.pool.withSlot(async () => {
      const target = this.#attach(derivedDataSource(this.#main, options));
      try {
        await target.dataSource.initialize();
        const metadata = target.dataSource.getMetadata(this.#tenantTarget());
        const runner = target.dataSource.createQueryRunner();
        try {
          const taken = (await runner.hasTable(metadata.tablePath)) && (await runner.manager.count(metadata.target)) > 0;
          if (taken) throw conflict(tenantId, `database ${databaseName(options) ?? file ?? ''}`.trim());
        } finally {
          await runner.release();
        }
        ours = true;
        // Tables from the tenant's migrations (synchronize, when configured, ran as it opened).
        if (target.dataSource.migrations.length) await target.dataSource.runMigrations();
        await copyTenantRow(target.dataSource, this.#tenantTarget(), tenant, false);
      } finally {
        if (target.dataSource.isInitialized) await target.dataSource.destroy();
      }
    });
  }

  async drop(tenantId: TenantId): Promise<void> {
    await this.pool.evict(String(tenantId));
    const options = this.#options.dataSourceOptions(tenantId);
    if (this.#options.dropDatabase) return this.#options.dropDatabase(tenantId, options);
    if (options.type === 'postgres') {
      await this.#main.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(this.#requireName(options, tenantId))} WITH (FORCE)`);
    } else {
      const file = sqliteFile(options);
      if (file) await rm(file, { force: true });
    }
  }

  migrate(tenantId: TenantId): Promise<void> {
    return this.#use(tenantId, (target) => migrateDataSource(target.dataSource));
  }

  #requireName(options: DataSourceOptions, tenantId: TenantId): string {
    const name = databaseName(options);
    if (!name || !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)) {
      throw new TenancyConfigError(`The database name of tenant ${String(tenantId)} (${String(name)}) must be a plain identifier, or pass createDatabase/dropDatabase.`, {
        tenant: tenantId,
      });
    }
    return name;
  }
}

/**
 * Shards: several databases, each with the whole schema and row-level scoping,
 * tenants spread over them by `shardOf`. A shard that is down fails only its
 * tenants' operations (StorageUnavailableError); the next use retries it.
 */
export class ShardStrategy implements StorageStrategy, Route {
  readonly kind = 'row';
  readonly #options: ShardingOptions;
  readonly #tenantTarget: () => Function;
  readonly pool: DataSourcePool<RoutedTarget>;
  readonly #lastShard = new Map<string, string>();

  constructor(main: DataSource, options: ShardingOptions, attach: Attach, tenantTarget: () => Function) {
    this.#options = options;
    this.#tenantTarget = tenantTarget;
    this.pool = new DataSourcePool({
      label: 'shard',
      open: async (shard) => {
        const shardOptions = options.shards[shard];
        if (!shardOptions) throw new TenancyConfigError(`shardOf returned "${shard}", which is not one of the shards (${Object.keys(options.shards).join(', ')}).`);
        const dataSource = derivedDataSource(main, shardOptions);
        const target = attach(dataSource);
        await dataSource.initialize();
        return target;
      },
      close: (target) => target.dataSource.destroy(),
    });
  }

  get shardNames(): string[] {
    return Object.keys(this.#options.shards);
  }

  async use<R>(tenantId: TenantId, fn: (manager: TenantEntityManager) => Promise<R>): Promise<R> {
    const shard = await this.#shardOf(tenantId);
    return this.pool.use(shard, (target) => fn(target.manager(tenantId)));
  }

  /**
   * For synchronous calls (`createQueryBuilder`): `shardOf`'s answer when it gives one
   * synchronously; a directory lookup (asynchronous) answers for the next call, and this
   * one uses the shard it gave last.
   */
  peek(tenantId: TenantId): TenantEntityManager | undefined {
    const key = String(tenantId);
    const answer = this.#options.shardOf(tenantId);
    let shard: string | undefined;
    if (typeof answer === 'string') shard = answer;
    else {
      shard = this.#lastShard.get(key);
      // Unless a newer answer (from use()) came in meanwhile.
      answer.then((resolved) => this.#lastShard.get(key) === shard && this.#lastShard.set(key, resolved), () => undefined);
    }
    return shard === undefined ? undefined : this.pool.peek(shard)?.manager(tenantId);
  }

  /** The shard of a tenant (`shardOf`'s answer). */
  shardOf(tenantId: TenantId): Promise<string> {
    return this.#shardOf(tenantId);
  }

  async #shardOf(tenantId: TenantId): Promise<string> {
    const shard = await this.#options.shardOf(tenantId);
    this.#lastShard.set(String(tenantId), shard);
    return shard;
  }

  /** Copies the tenant row into its shard (replacing a leftover of a failed create); undone if the create fails later. */
  async provision(tenantId: TenantId, _runner: QueryRunner, tenant: ObjectLiteral, onRollback: (undo: () => Promise<void>) => void): Promise<void> {
    const shard = await this.#shardOf(tenantId);
    await this.pool.use(shard, (target) => copyTenantRow(target.dataSource, this.#tenantTarget(), tenant, true));
    onRollback(() => this.pool.use(shard, (target) => inOwnTransaction(target.dataSource, (runner) => deleteTenantRow(runner, this.#tenantTarget(), tenantId))));
  }

  async drop(tenantId: TenantId): Promise<void> {
    const shard = await this.#shardOf(tenantId);
    this.#lastShard.delete(String(tenantId));
    await this.pool.use(shard, (target) => inOwnTransaction(target.dataSource, (runner) => deleteTenantRow(runner, this.#tenantTarget(), tenantId)));
  }

  /** Migrates one shard (all its tenants). */
  migrateShard(shard: string): Promise<void> {
    return this.pool.use(shard, (target) => migrateDataSource(target.dataSource));
  }
}
