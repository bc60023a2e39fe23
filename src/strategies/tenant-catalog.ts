import pLimit from 'p-limit';
import type { DataSource, DeepPartial, EntityTarget, ObjectLiteral } from 'typeorm';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import { TenancyConfigError } from '../errors.js';
import { resolveTenantId, type TenantId, type TenantKey, type TenantRef } from '../scoping/tenant-key.js';
import type { StorageStrategy } from './storage-strategy.js';
import { inOwnTransaction } from './in-transaction.js';

/** One step of `tenancy.migrateAll()`: a tenant, or with shards a shard. */
export interface MigrationProgress {
  /** The tenant migrated; absent for a shard (see `shard`). */
  readonly tenant?: TenantId;
  /** The shard migrated (shards only). */
  readonly shard?: string;
  /** Steps finished so far (this one included) and in total. */
  readonly done: number;
  readonly total: number;
  readonly ok: boolean;
  readonly error?: unknown;
}

/** With shards: how each shard's migration went. */
export interface ShardMigrationSummary {
  readonly total: number;
  readonly succeeded: string[];
  readonly failed: Array<{ shard: string; error: unknown }>;
}

/**
 * The outcome of `tenancy.migrateAll()`: one tenant's (or shard's) failure never stops
 * the others. `succeeded` and `failed` name tenants only; with shards they list the
 * tenants of the shards that succeeded or failed (each with its shard's error), and the
 * shards themselves are in `shards`.
 */
export interface MigrationSummary {
  readonly total: number;
  readonly succeeded: TenantId[];
  readonly failed: Array<{ tenant: TenantId; error: unknown }>;
  /** Shards only: each shard's outcome. */
  readonly shards?: ShardMigrationSummary;
}

export interface MigrateAllOptions {
  /** Tenants migrated at the same time. Defaults to 4. */
  concurrency?: number;
  /** Called after each tenant. */
  onProgress?: (progress: MigrationProgress) => void;
}

/** Options of `tenancy.tenants.exists()`. */
export interface TenantExistsOptions {
  /**
   * Answer from memory when this tenant was found to exist at most `maxAge`
   * milliseconds ago (in this process); otherwise look it up. Only tenants found to
   * exist are remembered, so a new tenant is accepted at once. Defaults to `0`:
   * always look it up.
   */
  maxAge?: number;
}

/** Tenants remembered by `exists()`, at most; the longest unused are forgotten first. */
const MAX_REMEMBERED = 10_000;

/**
 * `tenancy.tenants`: creating, listing and removing tenants for every strategy.
 * The tenant row and the tenant's storage (schema or database) are created and
 * removed together; when a step fails, the tenant row is not left behind.
 */
export class TenantCatalog<Tenant extends ObjectLiteral = ObjectLiteral> {
  readonly #dataSource: DataSource;
  readonly #strategy: StorageStrategy;
  readonly #key: () => TenantKey;
  /** When each tenant was last found to exist (performance.now()), in least-recently-used order. */
  readonly #found = new Map<TenantId, number>();
  /** Lookups in flight, shared by concurrent callers. */
  readonly #lookups = new Map<TenantId, Promise<boolean>>();
  /** Bumped by every remove(): a lookup that started before it must not remember its answer. */
  #removals = 0;

  /** @internal */
  constructor(dataSource: DataSource, strategy: StorageStrategy, key: () => TenantKey) {
    this.#dataSource = dataSource;
    this.#strategy = strategy;
    this.#key = key;
  }

  get #metadata(): EntityMetadata {
    return this.#key().column.entityMetadata;
  }

  /**
   * Inserts the tenant row and builds its storage (schema and tables, database, or the
   * tenant row in its shard): all or nothing. What lives outside the catalog's
   * transaction (a database, a shard's row) is removed again when a later step fails,
   * the commit included. A storage that already exists is a `StorageConflictError`.
   */
  async create(values: DeepPartial<Tenant>): Promise<Tenant> {
    const undo: Array<() => Promise<void>> = [];
    try {
      return await inOwnTransaction(this.#dataSource, async (runner) => {
        await this.#strategy.prepare?.(runner);
        const target = this.#metadata.target as EntityTarget<Tenant>;
        const tenant: Tenant = await runner.manager.save(target, runner.manager.create(target, values as DeepPartial<Tenant>));
        const tenantId = resolveTenantId(tenant, this.#key(), 'tenants.create()');
        await this.#strategy.provision(tenantId, runner, tenant, (step) => undo.push(step));
        return tenant;
      });
    } catch (error) {
      // Best effort: a step that cannot be undone now (its database is down) is handled by the next create.
      for (const step of undo.reverse()) await step().catch(() => undefined);
      throw error;
    }
  }

  /** Every tenant row. */
  async list(): Promise<Tenant[]> {
    const runner = this.#dataSource.createQueryRunner();
    try {
      return (await runner.manager.find(this.#metadata.target)) as Tenant[];
    } finally {
      await runner.release();
    }
  }

  /**
   * Drops the tenant's storage and its row (row strategy: its rows go with it through
   * ON DELETE CASCADE). `exists()` answers `false` for it from then on, remembered or not.
   */
  async remove(tenant: TenantRef): Promise<void> {
    const tenantId = resolveTenantId(tenant, this.#key(), 'tenants.remove()');
    try {
      await inOwnTransaction(this.#dataSource, async (runner) => {
        await this.#strategy.drop(tenantId, runner);
        await runner.manager.delete(this.#metadata.target, { [this.#key().column.propertyName]: tenantId });
      });
    } finally {
      this.#forget(tenantId);
    }
  }

  /**
   * Whether a row of the tenant entity has this tenant's key: one primary-key lookup
   * on the main DataSource, or, with
   * `maxAge`, the remembered answer of an earlier lookup. Concurrent calls for one
   * tenant share a lookup. A tenant removed through `remove()` is forgotten at once;
   * one removed otherwise (SQL, another process) is still reported for up to `maxAge`.
   * A tenant bound by `tenancy.run()` does not narrow the lookup. A malformed id is a
   * `MissingTenantError`.
   *
   * @example
   * await tenancy.tenants.exists(2)                     // SELECT 1 AS "found" FROM "tenants" "tenant" WHERE "tenant"."id" = $1 LIMIT 1
   * await tenancy.tenants.exists(2, { maxAge: 5_000 })  // no query when tenant 2 was found in the last 5 s
   */
  async exists(tenant: TenantRef, options: TenantExistsOptions = {}): Promise<boolean> {
    const key = this.#key();
    const tenantId = resolveTenantId(tenant, key, 'tenants.exists()');
    const maxAge = options.maxAge ?? 0;
    if (typeof maxAge !== 'number' || !(maxAge >= 0)) {
      throw new TenancyConfigError(`tenants.exists() was given maxAge ${String(maxAge)}; pass a number of milliseconds, 0 or more.`, {
        operation: 'tenants.exists()',
      });
    }
    const foundAt = this.#found.get(tenantId);
    if (foundAt !== undefined && performance.now() - foundAt < maxAge) {
      this.#found.delete(tenantId); // most recently used goes last
      this.#found.set(tenantId, foundAt);
      return true;
    }
    let lookup = this.#lookups.get(tenantId);
    if (!lookup) {
      lookup = this.#lookUp(tenantId, key).finally(() => {
        if (this.#lookups.get(tenantId) === lookup) this.#lookups.delete(tenantId);
      });
      this.#lookups.set(tenantId, lookup);
    }
    return lookup;
  }

  async #lookUp(tenantId: TenantId, key: TenantKey): Promise<boolean> {
    const removals = this.#removals;
    // A runner of its own: the plain main DataSource, never a tenant's routed storage.
    const runner = this.#dataSource.createQueryRunner();
    let found: boolean;
    try {
      // A builder on the runner stays on the main DataSource. Not existsBy(): TypeORM wraps that in a
      // builder of its own made without the runner, which tenancy.run() would route to the bound tenant's DataSource.
      const row: unknown = await runner.manager
        .createQueryBuilder(this.#metadata.target, 'tenant')
        .select('1', 'found')
        .where({ [key.column.propertyName]: tenantId })
        .limit(1)
        .getRawOne();
      found = row !== undefined;
    } finally {
      await runner.release();
    }
    this.#found.delete(tenantId);
    if (found && removals === this.#removals) {
      this.#found.set(tenantId, performance.now());
      if (this.#found.size > MAX_REMEMBERED) this.#found.delete(this.#found.keys().next().value!);
    }
    return found;
  }

  #forget(tenantId: TenantId): void {
    this.#removals++;
    this.#found.delete(tenantId);
    this.#lookups.delete(tenantId);
  }

  /** Ids of every tenant, in key order. */
  async ids(): Promise<TenantId[]> {
    const key = this.#key();
    return (await this.list()).map((t) => resolveTenantId(t, key, 'tenants.ids()'));
  }
}

/**
 * Runs `work` for every item with at most `concurrency` at once (p-limit: its 3.x line, CommonJS,
 * so the CJS build loads it under Jest too); failures are collected, not thrown.
 */
export async function forEachItem<T>(
  items: T[],
  work: (item: T) => Promise<void>,
  concurrency: number,
  onDone?: (item: T, done: number, error: unknown) => void,
): Promise<{ succeeded: T[]; failed: Array<{ item: T; error: unknown }> }> {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new TenancyConfigError(`migrateAll({ concurrency }) must be a positive integer, not ${String(concurrency)}.`, { operation: 'tenancy.migrateAll()' });
  }
  const succeeded: T[] = [];
  const failed: Array<{ item: T; error: unknown }> = [];
  let done = 0;
  const limit = pLimit(concurrency);
  const run = async (item: T) => {
    let error: unknown;
    try {
      await work(item);
      succeeded.push(item);
    } catch (e) {
      error = e;
      failed.push({ item, error });
    }
    onDone?.(item, ++done, error);
  };
  await Promise.all(items.map((item) => limit(() => run(item))));
  return { succeeded, failed };
}

/** `forEachItem` over tenants, as `migrateAll()` reports it. */
export async function forEachTenant(
  tenants: TenantId[],
  work: (tenant: TenantId) => Promise<void>,
  { concurrency = 4, onProgress }: MigrateAllOptions = {},
): Promise<MigrationSummary> {
  const total = tenants.length;
  const { succeeded, failed } = await forEachItem(tenants, work, concurrency, (tenant, done, error) =>
    onProgress?.({ tenant, done, total, ok: error === undefined, error }),
  );
  return { total, succeeded, failed: failed.map(({ item, error }) => ({ tenant: item, error })) };
}

/**
 * Migrates every shard (each with all its tenants) and reports the shards in `shards`
 * and the tenants by the shard `shardOf` puts them in.
 */
export async function forEachShard(
  shards: string[],
  work: (shard: string) => Promise<void>,
  tenants: () => Promise<TenantId[]>,
  shardOf: (tenant: TenantId) => Promise<string>,
  { concurrency = 4, onProgress }: MigrateAllOptions = {},
): Promise<MigrationSummary> {
  const total = shards.length;
  const run = await forEachItem(shards, work, concurrency, (shard, done, error) => onProgress?.({ shard, done, total, ok: error === undefined, error }));
  const shardErrors = new Map(run.failed.map(({ item, error }) => [item, error]));
  const succeeded: TenantId[] = [];
  const failed: Array<{ tenant: TenantId; error: unknown }> = [];
  const ids = await tenants();
  for (const tenant of ids) {
    try {
      const shard = await shardOf(tenant);
      if (shardErrors.has(shard)) failed.push({ tenant, error: shardErrors.get(shard) });
      else succeeded.push(tenant);
    } catch (error) {
      failed.push({ tenant, error });
    }
  }
  return {
    total: ids.length,
    succeeded,
    failed,
    shards: { total, succeeded: run.succeeded, failed: run.failed.map(({ item, error }) => ({ shard: item, error })) },
  };
}
