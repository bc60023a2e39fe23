import type { ObjectLiteral, QueryRunner } from 'typeorm';
import type { TenantId } from '../scoping/tenant-key.js';

/**
 * Where a strategy keeps a tenant's rows, and how it creates, migrates and drops
 * that storage. The tenant row itself always lives in the tenant table of the
 * main DataSource; `provision` and `drop` run inside the catalog's transaction
 * there, so a failed step leaves nothing behind where the database allows it.
 */
export interface StorageStrategy {
  readonly kind: 'row' | 'schema' | 'database';
  /** First step of `tenants.create()`'s transaction, before the tenant row is inserted. */
  prepare?(runner: QueryRunner): Promise<void>;
  /**
   * Builds the tenant's storage. What it creates outside the catalog's transaction (a
   * database, the tenant row in a shard) it undoes through `onRollback`, called as soon as
   * it exists: `tenants.create()` runs those steps, newest first, if anything later fails.
   */
  provision(tenantId: TenantId, runner: QueryRunner, tenant: ObjectLiteral, onRollback: (undo: () => Promise<void>) => void): Promise<void>;
  drop(tenantId: TenantId, runner: QueryRunner): Promise<void>;
  /** Brings one tenant's storage up to date; `undefined` when the strategy has no per-tenant storage. */
  migrate?(tenantId: TenantId): Promise<void>;
}

/** Row level: rows carry tenant_id in shared tables; nothing to create per tenant. */
export const rowStrategy: StorageStrategy = {
  kind: 'row',
  provision: async () => undefined,
  drop: async () => undefined,
};
