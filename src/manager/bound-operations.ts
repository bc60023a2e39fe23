import { EntityManager, type ObjectLiteral, type QueryRunner } from 'typeorm';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import { assertOwnTenant } from '../scoping/write-guard.js';
import { needsReferenceCheck, ReferenceCheck } from '../scoping/reference-guard.js';
import { canFoldReferences } from '../scoping/folded-reference-check.js';
import { asOperationTransaction, statementMayFail } from '../scoping/operation-transactions.js';
import { scopedTarget } from '../scoping/tenant-criterion.js';
import { assertTenantRowSave, assertTenantRowWrite } from '../scoping/tenant-row-guard.js';
import { TenantEntityManager } from './tenant-entity-manager.js';
import { inScopedTransaction } from '../postgres/transaction-binding.js';
import { newTenantRunner, tenantRunner } from '../scoping/runner-scope.js';

// Persistence (save/remove/softRemove/recover) issues its statements through
// `queryRunner.manager`, a plain EntityManager on a runner it creates. These versions
// run TypeORM's own method on a runner of the tenant operation (runner-scope.ts): its
// manager is a TenantEntityManager, so every statement, subscriber event and relation-id
// load of the operation is scoped. They are assigned to TenantEntityManager.prototype
// (our class, never TypeORM's) so TypeORM's overloaded signatures stay as users know them.

type Method = (this: EntityManager, ...args: unknown[]) => Promise<unknown>;
const base = EntityManager.prototype as unknown as Record<string, Method>;

function entitiesOf(manager: TenantEntityManager, args: unknown[]): [unknown, ObjectLiteral[]] {
  const [first, second] = args;
  const isTarget = typeof first === 'function' || typeof first === 'string' || (!!first && manager.dataSource.hasMetadata(first as Function));
  const entity = isTarget ? second : first;
  const list = (Array.isArray(entity) ? entity : [entity]).filter((e): e is ObjectLiteral => e !== null && typeof e === 'object');
  return [isTarget ? first : undefined, list];
}

/** Refuses, before any SQL, entities that already carry another tenant's id (and tenant rows a tenant may not write). */
function precheck(manager: TenantEntityManager, operation: string, args: unknown[]): void {
  const [target, entities] = entitiesOf(manager, args);
  for (const entity of entities) {
    const entityTarget = (target ?? entity.constructor) as Function;
    if (!manager.dataSource.hasMetadata(entityTarget)) continue;
    const metadata = manager.dataSource.getMetadata(entityTarget);
    const scoped = scopedTarget(manager.scope, metadata, operation);
    if (scoped?.tenantTable) {
      if (operation === 'save') assertTenantRowSave(manager.scope, metadata, [entity], operation);
      else assertTenantRowWrite(manager.scope, metadata, [entity], operation, operation !== 'recover');
    } else if (scoped) assertOwnTenant([entity], scoped, manager.scope, operation);
  }
}

/** save(): relations may only point at rows of the same tenant (one query for all entities and their references). */
async function checkReferences(manager: TenantEntityManager, args: unknown[], runner: QueryRunner): Promise<void> {
  const [target, entities] = entitiesOf(manager, args);
  const { scope, dataSource } = manager;
  let check: ReferenceCheck | undefined;
  // Where a one-row insert can carry its own check (folded-reference-check.ts), new rows leave it to their INSERT.
  const folds = canFoldReferences(scope.registry) && statementMayFail(runner);
  for (const entity of entities) {
    const entityTarget = (target ?? entity.constructor) as Function | string;
    if (!dataSource.hasMetadata(entityTarget)) continue;
    const metadata = dataSource.getMetadata(entityTarget);
    const one = [entity];
    if (folds && checkedByItsInsert(metadata, entity)) continue;
    if (needsReferenceCheck(scope, metadata, one)) (check ??= new ReferenceCheck(scope, 'save')).add(metadata, one);
  }
  if (check) await check.verify(runner);
}

/**
 * A new row (generated key not set) whose references are only the foreign keys of its own INSERT,
 * each naming an existing row: TypeORM inserts it through the tenant manager's insert builder, which
 * checks them (folded into the INSERT where it can). Many-to-many values (junction rows), cascaded
 * relations (rows TypeORM may insert or update) and new related objects are checked here, before
 * anything is written.
 */
function checkedByItsInsert(metadata: EntityMetadata, entity: ObjectLiteral): boolean {
  if (!metadata.primaryColumns.every((column) => column.isGenerated && column.getEntityValue(entity) === undefined)) return false;
  return metadata.relations.every((relation) => {
    const value: unknown = relation.isLazy ? undefined : relation.getEntityValue(entity);
    if (value === undefined || value === null) return true;
    if (relation.isCascadeInsert || relation.isCascadeUpdate || relation.isManyToMany || Array.isArray(value)) return false;
    return typeof value !== 'object' || relation.inverseEntityMetadata.getEntityIdMixedMap(value as ObjectLiteral) !== undefined;
  });
}

function persistence(name: 'save' | 'remove' | 'softRemove' | 'recover'): Method {
  const original = base[name]!;
  return async function (this: EntityManager, ...args: unknown[]) {
    const manager = this as TenantEntityManager;
    precheck(manager, name, args);
    const { scope } = manager;
    const { registry } = scope;
    // With row-level security the whole operation (entity loading included) is one bound transaction.
    if (registry.bindsTransactions && !manager.queryRunner?.isTransactionActive) {
      return inScopedTransaction(registry, scope, manager.queryRunner, async (runner) => {
        if (name === 'save') await checkReferences(manager, args, runner);
        return asOperationTransaction(runner, () => original.apply(runner.manager, args));
      });
    }
    const given = manager.queryRunner;
    const runner = given ? tenantRunner(registry, given, scope, false) : newTenantRunner(registry, scope);
    try {
      // On the operation's runner: what the check finds is known to its junction-row inserts.
      if (name === 'save') await checkReferences(manager, args, runner);
      // Outside a transaction of the caller's, the one TypeORM opens for the save is the save's.
      return await asOperationTransaction(runner, () => original.apply(runner.manager, args));
    } finally {
      if (!given) await runner.release();
    }
  };
}

Object.assign(TenantEntityManager.prototype, {
  save: persistence('save'),
  remove: persistence('remove'),
  softRemove: persistence('softRemove'),
  recover: persistence('recover'),
});
