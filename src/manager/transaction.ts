import { EntityManager } from 'typeorm';
import { newTenantRunner, tenantRunner } from '../scoping/runner-scope.js';
import type { TenantEntityManager } from './tenant-entity-manager.js';
import { releaseConnection, withConnectionCause } from '../postgres/connection-hygiene.js';

type Method = (this: EntityManager, ...args: unknown[]) => Promise<unknown>;
const base = EntityManager.prototype as unknown as Record<string, Method>;

/**
 * transaction(): runs on a runner of the tenant (runner-scope.ts), whose manager — the
 * callback's — is a TenantEntityManager bound to the transaction.
 */
export async function runTransaction(manager: TenantEntityManager, args: unknown[]): Promise<unknown> {
  const callback = args.at(-1) as (em: EntityManager) => Promise<unknown>;
  const isolation = args.length > 1 ? [args[0]] : [];
  const { scope } = manager;
  const { registry } = scope;
  const given = manager.queryRunner;
  const runner = given ? tenantRunner(registry, given, scope, false) : newTenantRunner(registry, scope);
  // A bound manager (a transaction's) nests in its own transaction, as TypeORM's does.
  const bound = runner === given ? manager : (runner.manager as TenantEntityManager);
  try {
    return await base.transaction!.apply(bound, [...isolation, () => callback(bound)]);
  } catch (error) {
    // A killed backend surfaces as "runner already released": the connection's error becomes the cause.
    throw withConnectionCause(error, runner);
  } finally {
    // TypeORM swallows a failed ROLLBACK: a connection left in doubt is destroyed, not released.
    if (!given) await releaseConnection(runner);
  }
}
