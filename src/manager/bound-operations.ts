import { EntityManager, type ObjectLiteral } from 'typeorm';
import { assertOwnTenant } from '../scoping/write-guard.js';
import { scopedTarget } from '../scoping/tenant-criterion.js';
import { TenantEntityManager } from './tenant-entity-manager.js';

// Persistence (save/remove/softRemove/recover) and transaction() run on a fresh
// runner whose `manager` is a plain EntityManager when the calling manager is not
// bound to a runner. These versions first bind a TenantEntityManager to the
// runner, so every statement TypeORM issues through `queryRunner.manager`
// (subject loading, cascades, junction rows, subscribers) stays in the tenant.
// They are assigned to TenantEntityManager.prototype — our own class, never
// TypeORM's — so TypeORM's overloaded signatures stay exactly as users know them.

type Method = (this: EntityManager, ...args: unknown[]) => Promise<unknown>;
const base = EntityManager.prototype as unknown as Record<string, Method>;

function entitiesOf(manager: TenantEntityManager, args: unknown[]): [Function | string | undefined, ObjectLiteral[]] {
  const [first, second] = args;
  const explicitTarget = typeof first === 'function' || typeof first === 'string' || manager.dataSource.hasMetadata(first as Function)
    ? (first as Function | string)
    : undefined;
  const entity = explicitTarget === undefined ? first : second;
  const list = (Array.isArray(entity) ? entity : [entity]).filter((e): e is ObjectLiteral => e !== null && typeof e === 'object');
  return [explicitTarget, list];
}

/** Refuses, before any SQL, entities that already carry another tenant's id. */
function precheck(manager: TenantEntityManager, operation: string, args: unknown[]): void {
  const [target, entities] = entitiesOf(manager, args);
  for (const entity of entities) {
    const entityTarget = target ?? entity.constructor;
    if (!manager.dataSource.hasMetadata(entityTarget)) continue;
    const scoped = scopedTarget(manager.scope, manager.dataSource.getMetadata(entityTarget), operation);
    if (scoped) assertOwnTenant([entity], scoped, manager.scope, operation);
  }
}

function onBoundRunner(name: string, check: boolean): Method {
  const original = base[name]!;
  return async function (this: EntityManager, ...args: unknown[]) {
    const manager = this as TenantEntityManager;
    if (check) precheck(manager, name, args);
    if (manager.queryRunner) return original.apply(manager, args);
    const runner = manager.dataSource.createQueryRunner();
    const bound = manager.scope.registry.bindManager(runner, manager.scope);
    try {
      return await original.apply(bound, args);
    } finally {
      await runner.release();
    }
  };
}

Object.assign(TenantEntityManager.prototype, {
  save: onBoundRunner('save', true),
  remove: onBoundRunner('remove', true),
  softRemove: onBoundRunner('softRemove', true),
  recover: onBoundRunner('recover', true),
  transaction: onBoundRunner('transaction', false),
});
