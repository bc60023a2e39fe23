import { EntityManager } from 'typeorm';
import type { TenantEntityManager } from './tenant-entity-manager.js';
import { releaseConnection, withConnectionCause } from '../postgres/connection-hygiene.js';

type Method = (this: EntityManager, ...args: unknown[]) => Promise<unknown>;
const base = EntityManager.prototype as unknown as Record<string, Method>;

/** transaction(): the callback gets a TenantEntityManager bound to the transaction's runner. */
export async function runTransaction(manager: TenantEntityManager, args: unknown[]): Promise<unknown> {
  const callback = args.at(-1) as (em: EntityManager) => Promise<unknown>;
  const isolation = args.length > 1 ? [args[0]] : [];
  const { registry } = manager.scope;
  if (manager.queryRunner) {
    const own = manager.queryRunner;
    return registry.within(manager.scope, () => base.transaction!.apply(manager, [...isolation, () => callback(manager)])).catch((error: unknown) => {
      throw withConnectionCause(error, own);
    });
  }
  const runner = manager.dataSource.createQueryRunner();
  const bound = registry.bindManager(runner, manager.scope);
  try {
    return await registry.within(manager.scope, () => base.transaction!.apply(bound, [...isolation, () => callback(bound)]));
  } catch (error) {
    // TypeORM swallows a failed ROLLBACK: the connection is then released in doubt, so it is destroyed below.
    throw withConnectionCause(error, runner);
  } finally {
    await releaseConnection(runner);
  }
}
