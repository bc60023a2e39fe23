import type { ObjectLiteral } from 'typeorm';
import { TenantMismatchError } from '../errors.js';
import type { ScopeContext } from './scope-context.js';
import { describeValue } from './describe-value.js';
import type { ScopedEntity } from './scope-registry.js';
import { isSameTenant, type TenantId } from './tenant-key.js';
import { refused } from './refusal.js';

function mismatch(scoped: ScopedEntity, scope: ScopeContext, operation: string, value: unknown): TenantMismatchError {
  const shown = describeValue(value);
  return refused(scope, new TenantMismatchError(
    `${operation} on ${scoped.metadata.name} would set ${scoped.column.propertyName} to ${shown}, but this manager is bound to tenant ${String(scope.tenantId)}. ` +
      `Leave ${scoped.column.propertyName} unset (it is filled in) or use the manager of the tenant that owns the row.`,
    { entity: scoped.metadata.name, operation, tenant: scope.tenantId },
  ));
}

/**
 * Stamps the bound tenant on every row of an insert and refuses a row that names
 * another tenant. Mutates the value sets like TypeORM does when it merges
 * generated ids back, so a saved entity shows its tenant afterwards.
 */
export function stampTenant(valueSets: ObjectLiteral[], scoped: ScopedEntity, scope: ScopeContext, operation: string): void {
  const tenantId = scope.tenantId as TenantId;
  for (const valueSet of valueSets) {
    const current: unknown = scoped.column.getEntityValue(valueSet);
    if (current === undefined || current === null) {
      scoped.column.setEntityValue(valueSet, tenantId);
    } else if (typeof current === 'function' || !isSameTenant(current, tenantId, scope.registry.tenantKey)) {
      throw mismatch(scoped, scope, operation, current);
    }
  }
}

/** Refuses an update that would move rows to another tenant (or set the tenant with raw SQL). */
export function guardTenantUnchanged(values: ObjectLiteral | undefined, scoped: ScopedEntity, scope: ScopeContext, operation: string): void {
  if (!values) return;
  const { propertyName, databaseName } = scoped.column;
  for (const key of [propertyName, databaseName]) {
    if (!Object.prototype.hasOwnProperty.call(values, key)) continue;
    const value: unknown = values[key];
    if (value === undefined) continue;
    if (typeof value === 'function' || !isSameTenant(value, scope.tenantId as TenantId, scope.registry.tenantKey)) {
      throw mismatch(scoped, scope, operation, value);
    }
  }
}

/** Refuses entities that already name another tenant, before any SQL of a save/remove runs. */
export function assertOwnTenant(entities: ObjectLiteral[], scoped: ScopedEntity, scope: ScopeContext, operation: string): void {
  for (const entity of entities) {
    const value: unknown = scoped.column.getEntityValue(entity);
    if (value !== undefined && value !== null && !isSameTenant(value, scope.tenantId as TenantId, scope.registry.tenantKey)) {
      throw mismatch(scoped, scope, operation, value);
    }
  }
}
