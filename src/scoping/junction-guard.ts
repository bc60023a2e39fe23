import type { ObjectLiteral, QueryRunner, SelectQueryBuilder } from 'typeorm';
import { knownRowsClock, rememberIds, unknownIds } from './known-rows.js';
import { checkLock } from './reference-query.js';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import { TenantMismatchError, UnsafeQueryError } from '../errors.js';
import { describeValue } from './describe-value.js';
import { refused } from './refusal.js';
import type { ScopeContext } from './scope-context.js';
import type { ScopedEntity } from './scope-registry.js';
import { TENANT_PARAMETER } from './tenant-criterion.js';

// Junction tables of many-to-many relations and closure tables of trees carry no tenant column,
// yet their rows are tenant data: which post has which tag, which folder is under which. Read
// through a tenant manager (a table named by a string, a join), a row shows only when every
// tenant-scoped row it points at belongs to the tenant; writes must point at the tenant's rows.

/** One side of a junction: its columns and the tenant-scoped entity they reference. */
export interface JunctionSide {
  readonly columns: readonly ColumnMetadata[];
  readonly target: ScopedEntity;
}

/** The sides of a junction or closure table that reference tenant-scoped entities (none: not guarded). */
export function junctionSides(metadata: EntityMetadata, scopedEntity: (m: EntityMetadata) => ScopedEntity | undefined): JunctionSide[] {
  if (metadata.tableType !== 'junction' && metadata.tableType !== 'closure-junction') return [];
  const byTarget = new Map<EntityMetadata, ColumnMetadata[]>();
  for (const column of metadata.columns) {
    const referenced = column.referencedColumn?.entityMetadata;
    if (!referenced) continue;
    // A closure table references the same entity twice (ancestor, descendant): one side each.
    const key = referenced;
    const list = byTarget.get(key) ?? [];
    list.push(column);
    byTarget.set(key, list);
  }
  const sides: JunctionSide[] = [];
  for (const [referenced, columns] of byTarget) {
    const target = scopedEntity(referenced);
    if (!target) continue;
    // Columns of one side reference the target's primary columns; a closure table has two such sides.
    const primaries = referenced.primaryColumns.length;
    for (let i = 0; i < columns.length; i += primaries) sides.push({ columns: columns.slice(i, i + primaries), target });
  }
  return sides;
}

/**
 * `EXISTS (...)` per side: the referenced row exists in the tenant. `alias` qualifies the
 * junction's columns (a FROM or JOIN alias, or the table itself in UPDATE/DELETE).
 */
export function junctionCriterion(sides: readonly JunctionSide[], qualifier: string, escape: (name: string) => string, tablePath: (m: EntityMetadata) => string): string {
  return sides
    .map((side, i) => {
      const ref = escape(`tenancy_ref_${i}`);
      const join = side.columns.map((c) => `${ref}.${escape(c.referencedColumn!.databaseName)} = ${qualifier}.${escape(c.databaseName)}`).join(' AND ');
      return `EXISTS (SELECT 1 FROM ${tablePath(side.target.metadata)} ${ref} WHERE ${join} AND ${ref}.${escape(side.target.column.databaseName)} = :${TENANT_PARAMETER})`;
    })
    .join(' AND ');
}

/** A junction row a builder inserts must point at the tenant's rows: checked with one query per side. */
export async function assertJunctionRowsInTenant(
  scope: ScopeContext,
  metadata: EntityMetadata,
  sides: readonly JunctionSide[],
  valueSets: readonly ObjectLiteral[],
  /** A scoped select of the target on the insert's runner. */
  select: (target: EntityMetadata) => SelectQueryBuilder<ObjectLiteral>,
  runner: QueryRunner | undefined,
): Promise<void> {
  for (const side of sides) {
    if (side.columns.length !== 1) {
      throw refused(scope, new UnsafeQueryError(
        `insert into ${metadata.name}: rows pointing at ${side.target.metadata.name} by a composite key cannot be checked. Write them with relation().add() or save().`,
        { entity: metadata.name, operation: 'insert', tenant: scope.tenantId },
      ));
    }
    const column = side.columns[0]!;
    const all = [...new Set(valueSets.map((v) => column.getEntityValue(v) as unknown).filter((v) => v !== undefined && v !== null))];
    // A save checked (or inserted) these rows moments ago on this connection: no second query.
    const ids = unknownIds(runner, scope, side.target.metadata, all);
    if (ids.length === 0) continue;
    const key = column.referencedColumn!;
    const asOf = knownRowsClock();
    const qb = select(side.target.metadata)
      .withDeleted()
      .select(`ref.${key.propertyPath}`, 'id')
      .where(`ref.${key.propertyPath} IN (:...tenancyJunctionIds)`, { tenancyJunctionIds: ids });
    const lock = checkLock(runner);
    if (lock) qb.setLock(lock);
    const present = new Set((await qb.getRawMany<{ id: unknown }>()).map((r) => String(r.id)));
    const missing = ids.find((id) => !present.has(String(id)));
    if (missing !== undefined) {
      throw refused(scope, new TenantMismatchError(
        `insert into ${metadata.name} would link ${side.target.metadata.name} ${describeValue(missing)}, which is not a row of tenant ${String(scope.tenantId)}. ` +
          'Link rows of the same tenant only (relation().add(), or save() with the relation).',
        { entity: metadata.name, operation: 'insert', tenant: scope.tenantId },
      ));
    }
    rememberIds(runner, scope, side.target.metadata, ids, asOf);
  }
}
