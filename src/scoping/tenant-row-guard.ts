import type { ObjectLiteral } from 'typeorm';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { QueryExpressionMap } from 'typeorm/query-builder/QueryExpressionMap.js';
import { TenantMismatchError, UnsafeQueryError } from '../errors.js';
import { describeValue } from './describe-value.js';
import { SCOPE, type ScopeCarrier, type ScopeContext } from './scope-context.js';
import type { ScopedEntity } from './scope-registry.js';
import { isSameTenant, type TenantId } from './tenant-key.js';
import { scopedTarget } from './tenant-criterion.js';
import { refused } from './refusal.js';

// Rule 9: through a tenant manager the tenant table is scoped by its own primary key. Reads
// and updates get `id = :tenant` like any scoped entity gets `tenant_id = :tenant`; what is
// left here are the writes that would create or delete tenant rows, and ids named up front.

function otherTenant(scoped: ScopedEntity, scope: ScopeContext, operation: string, value: unknown): TenantMismatchError {
  return refused(scope, new TenantMismatchError(
    `${operation} on the tenant table ${scoped.metadata.name} names tenant ${describeValue(value)}, but this manager is bound to tenant ${String(scope.tenantId)}. ` +
      'A tenant manager reads and changes only its own tenant row.',
    { entity: scoped.metadata.name, operation, tenant: scope.tenantId },
  ));
}

function notThroughTenant(scoped: ScopedEntity, scope: ScopeContext, operation: string, what: string): UnsafeQueryError {
  return refused(scope, new UnsafeQueryError(
    `${operation} on the tenant table ${scoped.metadata.name} would ${what} through the manager of tenant ${String(scope.tenantId)}. ` +
      'Create and remove tenants with tenancy.tenants.create()/remove(), or use a { safe: false } manager on purpose.',
    { entity: scoped.metadata.name, operation, tenant: scope.tenantId },
  ));
}

/** Inserts into the tenant table through a tenant manager: another tenant's id is a mismatch, any other row would create a tenant. */
export function refuseTenantRowInsert(valueSets: ObjectLiteral[], scoped: ScopedEntity, scope: ScopeContext, operation: string): never {
  for (const valueSet of valueSets) {
    const id: unknown = scoped.column.getEntityValue(valueSet);
    if (id !== undefined && id !== null && (typeof id === 'function' || !isSameTenant(id, scope.tenantId as TenantId, scope.registry.tenantKey))) {
      throw otherTenant(scoped, scope, operation, id);
    }
  }
  throw notThroughTenant(scoped, scope, operation, 'create a tenant row');
}

/** A DELETE or soft delete of the tenant table, rendered by a tenant's builder. */
export function refuseTenantRowDelete(qb: { expressionMap: QueryExpressionMap } & ScopeCarrier, operation: string): void {
  const map = qb.expressionMap;
  const scoped = map.mainAlias?.hasMetadata ? scopedTarget(qb[SCOPE], map.mainAlias.metadata, operation) : undefined;
  if (scoped?.tenantTable) throw notThroughTenant(scoped, qb[SCOPE]!, operation, 'delete tenant rows');
}

/** The tenant-row guard of `metadata` for this scope, if `metadata` is the tenant table. */
export function tenantRowGuard(scope: ScopeContext, metadata: EntityMetadata, operation: string): ScopedEntity | undefined {
  const scoped = scopedTarget(scope, metadata, operation);
  return scoped?.tenantTable ? scoped : undefined;
}

/** Primary-key values named by manager criteria (`3`, `[3, 4]`, `{ id: 3 }`, `[{ id: 3 }]`); others are not looked at. */
function namedIds(scoped: ScopedEntity, criteria: unknown): unknown[] {
  const list = Array.isArray(criteria) ? criteria : [criteria];
  const ids: unknown[] = [];
  for (const item of list) {
    if (item === null || item === undefined) continue;
    if (typeof item !== 'object') ids.push(item);
    else if (!(item instanceof Date)) {
      const value: unknown = scoped.column.getEntityValue(item as ObjectLiteral);
      if (value !== undefined && value !== null && typeof value !== 'object') ids.push(value);
    }
  }
  return ids;
}

/**
 * Manager writes on the tenant table (`update`, `delete`, `softDelete`, `restore`, `increment`,
 * `decrement`, `save`, `remove`, ...): criteria or entities naming another tenant's id are a
 * `TenantMismatchError` before any SQL; deleting (or soft-deleting, removing) even the own
 * row is refused. Other tenant-table writes are left to the scoped builders.
 */
export function assertTenantRowWrite(scope: ScopeContext, metadata: EntityMetadata, criteria: unknown, operation: string, deletes: boolean): void {
  const scoped = tenantRowGuard(scope, metadata, operation);
  if (!scoped) return;
  for (const id of namedIds(scoped, criteria)) {
    if (!isSameTenant(id, scope.tenantId as TenantId, scope.registry.tenantKey)) throw otherTenant(scoped, scope, operation, id);
  }
  if (deletes) throw notThroughTenant(scoped, scope, operation, 'delete the tenant row');
}

/** `save()` of tenant rows without an id would insert a new tenant. */
export function assertTenantRowSave(scope: ScopeContext, metadata: EntityMetadata, entities: ObjectLiteral[], operation: string): void {
  const scoped = tenantRowGuard(scope, metadata, operation);
  if (!scoped) return;
  assertTenantRowWrite(scope, metadata, entities, operation, false);
  if (entities.some((e) => scoped.column.getEntityValue(e) === undefined || scoped.column.getEntityValue(e) === null)) {
    throw notThroughTenant(scoped, scope, operation, 'create a tenant row');
  }
}
