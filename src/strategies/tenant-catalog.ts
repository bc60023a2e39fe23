import pLimit from 'p-limit';
import type { DataSource, DeepPartial, EntityTarget, ObjectLiteral } from 'typeorm';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import { TenancyConfigError } from '../errors.js';
import { resolveTenantId, type TenantId, type TenantKey } from '../scoping/tenant-key.js';
import type { StorageStrategy } from './storage-strategy.js';
import { inOwnTransaction } from './in-transaction.js';

/** One step of `tenancy.migrateAll()`. */
export interface MigrationProgress {
  readonly tenant: TenantId;
  /** Tenants finished so far (this one included) and in total. */
  readonly done: number;
  readonly total: number;
  readonly ok: boolean;
  readonly error?: unknown;
}

/** The outcome of `tenancy.migrateAll()`: one tenant's failure never stops the others. */
export interface MigrationSummary {
  readonly total: number;
  readonly succeeded: TenantId[];
  readonly failed: Array<{ tenant: TenantId; error: unknown }>;
}

export interface MigrateAllOptions {
  /** Tenants migrated at the same time. Defaults to 4. */
  concurrency?: number;
  /** Called after each tenant. */
  onProgress?: (progress: MigrationProgress) => void;
}

/**
 * `tenancy.tenants`: creating, listing and removing tenants for every strategy.
 * The tenant row and the tenant's storage (schema or database) are created and
 * removed together; when a step fails, the tenant row is not left behind.
 */
export class TenantCatalog<Tenant extends ObjectLiteral = ObjectLiteral> {
  readonly #dataSource: DataSource;
  readonly #strategy: StorageStrategy;
  readonly #key: () => TenantKey;

  /** @internal */
  constructor(dataSource: DataSource, strategy: StorageStrategy, key: () => TenantKey) {
    this.#dataSource = dataSource;
    this.#strategy = strategy;
    this.#key = key;
  }

  get #metadata(): EntityMetadata {
    return this.#key().column.entityMetadata;
  }

  /** Inserts the tenant row and builds its storage (schema and tables, or database). */
  async create(values: DeepPartial<Tenant>): Promise<Tenant> {
    let tenantId: TenantId | undefined;
    try {
      return await inOwnTransaction(this.#dataSource, async (runner) => {
        await this.#strategy.prepare?.(runner);
        const target = this.#metadata.target as EntityTarget<Tenant>;
        const tenant: Tenant = await runner.manager.save(target, runner.manager.create(target, values as DeepPartial<Tenant>));
        tenantId = resolveTenantId(tenant, this.#key(), 'tenants.create()');
        await this.#strategy.provision(tenantId, runner, tenant);
        return tenant;
      });
    } catch (error) {
      // Storage outside the catalog's transaction (a database) is undone by the strategy.
      if (tenantId !== undefined && this.#strategy.kind === 'database') {
        await inOwnTransaction(this.#dataSource, (runner) => this.#strategy.drop(tenantId!, runner)).catch(() => undefined);
      }
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

  /** Drops the tenant's storage and its row (row strategy: its rows go with it through ON DELETE CASCADE). */
  async remove(tenant: unknown): Promise<void> {
    const tenantId = resolveTenantId(tenant, this.#key(), 'tenants.remove()');
    await inOwnTransaction(this.#dataSource, async (runner) => {
      await this.#strategy.drop(tenantId, runner);
      await runner.manager.delete(this.#metadata.target, { [this.#key().column.propertyName]: tenantId });
    });
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
export async function forEachTenant(
  tenants: TenantId[],
  work: (tenant: TenantId) => Promise<void>,
  { concurrency = 4, onProgress }: MigrateAllOptions = {},
): Promise<MigrationSummary> {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new TenancyConfigError(`migrateAll({ concurrency }) must be a positive integer, not ${String(concurrency)}.`, { operation: 'tenancy.migrateAll()' });
  }
  const succeeded: TenantId[] = [];
  const failed: Array<{ tenant: TenantId; error: unknown }> = [];
  let done = 0;
  const limit = pLimit(concurrency);
  const migrate = async (tenant: TenantId) => {
    let error: unknown;
    try {
      await work(tenant);
      succeeded.push(tenant);
    } catch (e) {
      error = e;
      failed.push({ tenant, error });
    }
    done++;
    onProgress?.({ tenant, done, total: tenants.length, ok: error === undefined, error });
  };
  await Promise.all(tenants.map((tenant) => limit(() => migrate(tenant))));
  return { total: tenants.length, succeeded, failed };
}
