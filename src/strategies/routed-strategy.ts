import { rm } from 'node:fs/promises';
import type { DataSource, DataSourceOptions, ObjectLiteral, QueryRunner } from 'typeorm';
import { TenancyConfigError } from '../errors.js';
import type { TenantEntityManager } from '../manager/tenant-entity-manager.js';
import { quoteIdentifier } from '../postgres/policy-sql.js';
import type { TenantId } from '../scoping/tenant-key.js';
import { DataSourcePool, derivedDataSource } from './data-source-pool.js';
import type { Route } from './routed-manager.js';
import type { StorageStrategy } from './storage-strategy.js';

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

/** Copies the tenant row into a routed database, so its scoped tables' foreign key to the tenant table holds there too. */
async function copyTenantRow(target: DataSource, tenantTarget: Function, tenant: ObjectLiteral): Promise<void> {
  const metadata = target.getMetadata(tenantTarget);
  const columns = metadata.columns.filter((c) => !c.isVirtual && c.getEntityValue(tenant) !== undefined);
  const driver = target.driver;
  const names = columns.map((c) => driver.escape(c.databaseName)).join(', ');
  const params = columns.map((_, i) => driver.createParameter(`p${i}`, i)).join(', ');
  const values = columns.map((c) => driver.preparePersistentValue(c.getEntityValue(tenant), c));
  // A raw insert: TypeORM would replace a given serial id with DEFAULT on PostgreSQL.
  await target.query(`INSERT INTO ${driver.escape(metadata.tablePath)} (${names}) VALUES (${params})`, values);
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

  constructor(main: DataSource, options: DatabaseStrategyOptions, attach: Attach, tenantTarget: () => Function) {
    this.#main = main;
    this.#options = options;
    this.#tenantTarget = tenantTarget;
    this.pool = new DataSourcePool({
      label: 'tenant database',
      maxOpen: options.maxOpen ?? 20,
      idleTimeoutMs: options.idleTimeoutMs ?? 5 * 60_000,
      open: async (key) => {
        const dataSource = derivedDataSource(main, options.dataSourceOptions(key));
        const target = attach(dataSource);
        await dataSource.initialize();
        return target;
      },
      close: (target) => target.dataSource.destroy(),
    });
  }

  use<R>(tenantId: TenantId, fn: (manager: TenantEntityManager) => Promise<R>): Promise<R> {
    return this.pool.use(String(tenantId), (target) => fn(target.manager(tenantId)));
  }

  peek(tenantId: TenantId): TenantEntityManager | undefined {
    return this.pool.peek(String(tenantId))?.manager(tenantId);
  }

  async provision(tenantId: TenantId, _runner: QueryRunner, tenant: ObjectLiteral): Promise<void> {
    const options = this.#options.dataSourceOptions(tenantId);
    if (this.#options.createDatabase) await this.#options.createDatabase(tenantId, options);
    else if (options.type === 'postgres') await this.#main.query(`CREATE DATABASE ${quoteIdentifier(this.#requireName(options, tenantId))}`);
    await this.pool.use(String(tenantId), async (target) => {
      // Tables from the tenant's migrations (synchronize, when configured, ran as it opened).
      if (target.dataSource.migrations.length) await target.dataSource.runMigrations();
      await copyTenantRow(target.dataSource, this.#tenantTarget(), tenant);
    });
  }

  async drop(tenantId: TenantId): Promise<void> {
    await this.pool.evict(String(tenantId));
    const options = this.#options.dataSourceOptions(tenantId);
    if (this.#options.dropDatabase) return this.#options.dropDatabase(tenantId, options);
    if (options.type === 'postgres') {
      await this.#main.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(this.#requireName(options, tenantId))} WITH (FORCE)`);
    } else if (options.type === 'better-sqlite3' && options.database !== ':memory:') {
      await rm(String(options.database), { force: true });
    }
  }

  migrate(tenantId: TenantId): Promise<void> {
    return this.pool.use(String(tenantId), (target) => migrateDataSource(target.dataSource));
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

  async #shardOf(tenantId: TenantId): Promise<string> {
    const shard = await this.#options.shardOf(tenantId);
    this.#lastShard.set(String(tenantId), shard);
    return shard;
  }

  async provision(tenantId: TenantId, _runner: QueryRunner, tenant: ObjectLiteral): Promise<void> {
    const shard = await this.#shardOf(tenantId);
    await this.pool.use(shard, (target) => copyTenantRow(target.dataSource, this.#tenantTarget(), tenant));
  }

  async drop(tenantId: TenantId): Promise<void> {
    const shard = await this.#shardOf(tenantId);
    this.#lastShard.delete(String(tenantId));
    await this.pool.use(shard, async (target) => {
      const metadata = target.dataSource.getMetadata(this.#tenantTarget());
      await target.dataSource
        .createQueryBuilder()
        .delete()
        .from(metadata.target)
        .where({ [metadata.primaryColumns[0]!.propertyName]: tenantId })
        .execute();
    });
  }

  /** Migrates one shard (all its tenants). */
  migrateShard(shard: string): Promise<void> {
    return this.pool.use(shard, (target) => migrateDataSource(target.dataSource));
  }
}
