import { type ObjectLiteral, QueryFailedError, type SelectQueryBuilder } from 'typeorm';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { ForeignKeyMetadata } from 'typeorm/metadata/ForeignKeyMetadata.js';
import type { RelationMetadata } from 'typeorm/metadata/RelationMetadata.js';
import { TenantMismatchError } from '../errors.js';
import { describeValue } from './describe-value.js';
import { refused } from './refusal.js';
import type { ScopeContext } from './scope-context.js';
import type { ScopedEntity } from './scope-registry.js';

// A relation between tenant-scoped entities whose foreign key is composite, (tenant_id, x_id) ->
// (tenant_id, id) (compositeKeys), is checked by the database on every write: a row can only point
// at a row of its own tenant. Writes through a tenant manager skip the app-side reference query for
// such relations (no extra statement) and turn the database's refusal into a TenantMismatchError.

/**
 * The composite tenant foreign key of each many-to-one / owning one-to-one relation between
 * scoped entities that has one.
 */
export function enforcedRelations(scoped: ReadonlyMap<EntityMetadata, ScopedEntity>): Map<RelationMetadata, ForeignKeyMetadata> {
  const found = new Map<RelationMetadata, ForeignKeyMetadata>();
  for (const { metadata, column } of scoped.values()) {
    for (const relation of metadata.relations) {
      if (!(relation.isManyToOne || relation.isOneToOneOwner) || relation.joinColumns.length !== 1) continue;
      const target = scoped.get(relation.inverseEntityMetadata);
      if (!target) continue;
      const join = relation.joinColumns[0]!;
      const fk = metadata.foreignKeys.find(
        (k) =>
          k.referencedEntityMetadata === target.metadata &&
          k.columns.length === 2 &&
          k.columns.includes(column) &&
          k.columns.includes(join) &&
          k.referencedColumns.includes(target.column) &&
          !!join.referencedColumn &&
          k.referencedColumns.includes(join.referencedColumn),
      );
      if (fk) found.set(relation, fk);
    }
  }
  return found;
}

const foreignKeyCodes = new Set(['23503', 'SQLITE_CONSTRAINT_FOREIGNKEY', 'ER_NO_REFERENCED_ROW_2', 'ER_NO_REFERENCED_ROW']);

function foreignKeyViolation(error: unknown): { constraint?: string; message: string } | undefined {
  if (!(error instanceof QueryFailedError)) return undefined;
  const driverError = error.driverError as { code?: unknown; constraint?: unknown; errno?: unknown } | undefined;
  const code = String(driverError?.code ?? '');
  if (!foreignKeyCodes.has(code) && driverError?.errno !== 1452) return undefined;
  return { constraint: typeof driverError?.constraint === 'string' ? driverError.constraint : undefined, message: error.message };
}

function mismatch(scope: ScopeContext, relation: RelationMetadata, id: unknown, operation: string, cause: unknown): TenantMismatchError {
  return refused(scope, new TenantMismatchError(
    `${operation} would point ${relation.entityMetadata.name}.${relation.propertyName} at ${relation.inverseEntityMetadata.name} ${describeValue(id)}, ` +
      `which is not a row of tenant ${String(scope.tenantId)} (the database refused it). Reference rows of the same tenant only.`,
    { entity: relation.entityMetadata.name, operation, tenant: scope.tenantId, cause },
  ));
}

/**
 * A foreign-key violation of a write of `metadata` through a tenant manager, when it is (or may be)
 * a composite tenant key refusing a reference: the `TenantMismatchError` to throw instead. The
 * constraint is named by PostgreSQL and MySQL; SQLite names none, so the enforced references of the
 * written values are looked up (on SQLite the connection stays usable after a failed statement).
 */
export async function tenantForeignKeyError(
  scope: ScopeContext,
  metadata: EntityMetadata,
  error: unknown,
  valueSets: readonly ObjectLiteral[],
  operation: string,
  select: (target: EntityMetadata) => SelectQueryBuilder<ObjectLiteral>,
): Promise<TenantMismatchError | undefined> {
  const violation = foreignKeyViolation(error);
  if (!violation || !scope.safe || scope.tenantId === undefined) return undefined;
  const enforced = [...scope.registry.enforcedRelationsOf(metadata)];
  if (enforced.length === 0) return undefined;
  const value = (relation: RelationMetadata, valueSet: ObjectLiteral): unknown => {
    const join = relation.joinColumns[0]!;
    const raw: unknown = join.getEntityValue(valueSet);
    return raw !== null && typeof raw === 'object' ? join.referencedColumn?.getEntityValue(raw as ObjectLiteral) : raw;
  };
  // PostgreSQL reports the constraint; MySQL/MariaDB name it in the message; SQLite does neither.
  const named = violation.constraint ?? /CONSTRAINT [`"]([^`"]+)[`"]/.exec(violation.message)?.[1];
  if (named !== undefined) {
    // The relation's composite key, or its single-column key beside it (a SET NULL relation on PostgreSQL).
    const hit = enforced.find(([relation, fk]) => fk.name === named || metadata.foreignKeys.some((k) => k.name === named && k.columns.length === 1 && k.columns[0] === relation.joinColumns[0]));
    if (!hit) return undefined;
    const id = valueSets.map((v) => value(hit[0], v)).find((v) => v !== undefined && v !== null);
    return mismatch(scope, hit[0], id, operation, error);
  }
  for (const [relation] of enforced) {
    const ids = [...new Set(valueSets.map((v) => value(relation, v)).filter((v) => v !== undefined && v !== null))];
    if (ids.length === 0) continue;
    const key = relation.joinColumns[0]!.referencedColumn!;
    const present = new Set(
      (await select(relation.inverseEntityMetadata).withDeleted().select(`ref.${key.propertyPath}`, 'id').where(`ref.${key.propertyPath} IN (:...tenancyEnforcedIds)`, { tenancyEnforcedIds: ids }).getRawMany<{ id: unknown }>()).map(
        (r) => String(r.id),
      ),
    );
    const missing = ids.find((id) => !present.has(String(id)));
    if (missing !== undefined) return mismatch(scope, relation, missing, operation, error);
  }
  return undefined;
}
