import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import { MissingTenantError } from '../errors.js';
import type { ScopeContext } from './scope-context.js';
import type { ScopedEntity } from './scope-registry.js';
import { junctionCriterion, type JunctionSide } from './junction-guard.js';
import { refused } from './refusal.js';

/** Name of the query parameter that carries the tenant id in every dialect. */
export const TENANT_PARAMETER = 'tenancy_tenant_id';

/**
 * The scoped entity behind `metadata` when this scope must filter it, else
 * `undefined`. An unknown tenant with a scoped entity is refused here, so every
 * read and write path fails closed through this one check. With a tenant, the tenant
 * table is scoped by its primary key (rule 9: a tenant sees only its own tenant row).
 */
export function scopedTarget(scope: ScopeContext | undefined, metadata: EntityMetadata | undefined, operation: string): ScopedEntity | undefined {
  if (!scope || !scope.safe) return undefined;
  // A tenant sees the tenant table by its own primary key; without a tenant it is a shared table.
  const scoped = scope.tenantId === undefined ? scope.registry.scopedEntity(metadata) : scope.registry.rowScope(metadata);
  if (scoped && scope.tenantId === undefined) {
    throw refused(scope, new MissingTenantError(
      `${operation} on tenant-scoped entity ${scoped.metadata.name} ran with no tenant bound. ` +
        'Use tenancy.manager(tenantId), run it inside tenancy.run(tenantId, fn), or pass { safe: false } to reach every tenant on purpose.',
      { entity: scoped.metadata.name, operation },
    ));
  }
  return scoped;
}

/**
 * `"alias"."tenant_id" = :tenancy_tenant_id`, or the unqualified column when the
 * statement does not prefix aliases (UPDATE/DELETE). The value is always a
 * parameter, never text in the SQL.
 */
export function tenantCriterion(scoped: ScopedEntity, alias: string | undefined): string {
  const driver = scoped.metadata.dataSource.driver;
  const column = driver.escape(scoped.column.databaseName);
  return `${alias === undefined ? column : `${driver.escape(alias)}.${column}`} = :${TENANT_PARAMETER}`;
}

/**
 * The tenant-scoped sides of a junction or closure table when this scope must filter it, else
 * `undefined`; like `scopedTarget`, an unknown tenant is refused.
 */
export function junctionTarget(scope: ScopeContext | undefined, metadata: EntityMetadata | undefined, operation: string): readonly JunctionSide[] | undefined {
  if (!scope || !scope.safe) return undefined;
  const sides = scope.registry.junction(metadata);
  if (sides && scope.tenantId === undefined) {
    throw refused(scope, new MissingTenantError(
      `${operation} on ${metadata!.name}, which links tenant-scoped rows, ran with no tenant bound. ` +
        'Use tenancy.manager(tenantId), run it inside tenancy.run(tenantId, fn), or pass { safe: false } to reach every tenant on purpose.',
      { entity: metadata!.name, operation },
    ));
  }
  return sides;
}

/** `EXISTS (...)` per scoped side of a junction: `qualifier` names its alias (or its table in UPDATE/DELETE). */
export function junctionTenantCriterion(metadata: EntityMetadata, sides: readonly JunctionSide[], qualifier: string): string {
  const driver = metadata.dataSource.driver;
  const escape = (name: string) => driver.escape(name);
  const tablePath = (m: EntityMetadata) => m.tablePath.split('.').map(escape).join('.');
  return junctionCriterion(sides, qualifier, escape, tablePath);
}
