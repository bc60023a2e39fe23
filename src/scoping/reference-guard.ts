import type { ObjectLiteral, QueryRunner } from 'typeorm';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { RelationMetadata } from 'typeorm/metadata/RelationMetadata.js';
import { TenantMismatchError } from '../errors.js';
import { withScope } from './scope-carrier.js';
import { rememberIds, unknownIds } from './known-rows.js';
import type { ScopeContext } from './scope-context.js';
import type { ScopeRegistry } from './scope-registry.js';
import { describeValue } from './describe-value.js';
import { isSameTenant, type TenantId } from './tenant-key.js';
import { refused } from './refusal.js';

type References = Map<EntityMetadata, Map<unknown, RelationMetadata>>;

function mismatch(scope: ScopeContext, relation: RelationMetadata, id: unknown, operation: string): TenantMismatchError {
  return refused(scope, new TenantMismatchError(
    `${operation} would point ${relation.entityMetadata.name}.${relation.propertyName} at ${relation.inverseEntityMetadata.name} ${describeValue(id)}, ` +
      `which is not a row of tenant ${String(scope.tenantId)}. Reference rows of the same tenant only (load them through this manager).`,
    { entity: relation.entityMetadata.name, operation, tenant: scope.tenantId },
  ));
}

/** Relations whose value names rows of a scoped entity: to-one owners and many-to-many. */
// Per registry and entity, computed once: writes check them on every call.
const referencing = new WeakMap<ScopeRegistry, Map<EntityMetadata, RelationMetadata[]>>();

function referencingRelations(scope: ScopeContext, metadata: EntityMetadata): RelationMetadata[] {
  let byEntity = referencing.get(scope.registry);
  if (!byEntity) referencing.set(scope.registry, (byEntity = new Map()));
  let relations = byEntity.get(metadata);
  if (!relations) {
    relations = metadata.relations.filter(
      (r) => (r.isManyToOne || r.isOneToOneOwner || r.isManyToMany) && !!scope.registry.scopedEntity(r.inverseEntityMetadata),
    );
    byEntity.set(metadata, relations);
  }
  return relations;
}

/** Walks entities and the new objects they cascade, collecting ids of referenced scoped rows. */
function collect(scope: ScopeContext, metadata: EntityMetadata, entity: ObjectLiteral, found: References, seen: Set<object>, operation: string): void {
  if (seen.has(entity)) return;
  seen.add(entity);
  for (const relation of referencingRelations(scope, metadata)) {
    if (relation.isLazy) continue; // a lazy value is a promise: TypeORM only persists it once resolved by the caller
    const value: unknown = relation.getEntityValue(entity);
    for (const related of Array.isArray(value) ? value : [value]) {
      if (related === undefined || related === null) continue;
      const target = relation.inverseEntityMetadata;
      const scoped = scope.registry.scopedEntity(target)!;
      if (typeof related === 'object') {
        const own: unknown = scoped.column.getEntityValue(related as ObjectLiteral);
        if (own !== undefined && own !== null && !isSameTenant(own, scope.tenantId as TenantId, scope.registry.tenantKey)) {
          throw mismatch(scope, relation, target.getEntityIdMixedMap(related as ObjectLiteral), operation);
        }
      }
      const id = target.hasMultiplePrimaryKeys ? undefined : typeof related === 'object' ? target.getEntityIdMixedMap(related as ObjectLiteral) : related;
      if (id !== undefined && id !== null && typeof id !== 'object') {
        // The database checks this reference itself (a composite tenant key): no query for it.
        if (scope.registry.isEnforced(relation)) continue;
        const ids = found.get(target) ?? new Map<unknown, RelationMetadata>();
        ids.set(id, relation);
        found.set(target, ids);
      } else if (typeof related === 'object') {
        collect(scope, target, related as ObjectLiteral, found, seen, operation); // a new row: check what it references
      }
    }
  }
}

/**
 * Refuses, before the write, entities whose relations point at rows of another
 * tenant: one query per referenced entity type (through the tenant scope), never
 * one per relation. Ids that do not exist are refused the same way, so the error
 * does not tell which ids another tenant has.
 */
export async function assertReferencesInTenant(
  scope: ScopeContext,
  metadata: EntityMetadata,
  entities: ObjectLiteral[],
  operation: string,
  queryRunner?: QueryRunner,
): Promise<void> {
  if (!scope.safe || scope.tenantId === undefined || referencingRelations(scope, metadata).length === 0) return;
  const found: References = new Map();
  const seen = new Set<object>();
  for (const entity of entities) collect(scope, metadata, entity, found, seen, operation);
  await verifyReferences(scope, found, operation, queryRunner);
}

/**
 * `relation().of(x).set/add(values)`: the related rows (and `x` for a many-to-many
 * junction row) must belong to the tenant.
 */
export async function assertRelationValuesInTenant(
  scope: ScopeContext,
  relation: RelationMetadata,
  of: unknown,
  values: unknown[],
  operation: string,
  queryRunner?: QueryRunner,
): Promise<void> {
  if (!scope.safe || scope.tenantId === undefined) return;
  const found: References = new Map();
  const add = (target: EntityMetadata, value: unknown) => {
    if (!scope.registry.scopedEntity(target) || value === null || value === undefined || target.hasMultiplePrimaryKeys) return;
    const id = typeof value === 'object' ? target.getEntityIdMixedMap(value as ObjectLiteral) : value;
    if (id === undefined || id === null) return;
    found.set(target, (found.get(target) ?? new Map()).set(id, relation));
  };
  if (relation.isManyToOne || relation.isOneToOneOwner || relation.isManyToMany) for (const value of values) add(relation.inverseEntityMetadata, value);
  if (relation.isManyToMany) for (const source of Array.isArray(of) ? of : [of]) add(relation.entityMetadata, source);
  await verifyReferences(scope, found, operation, queryRunner);
}

// On the caller's runner: inside a transaction the check must see the rows it inserted,
// and must not wait for a second pooled connection.
async function verifyReferences(scope: ScopeContext, found: References, operation: string, queryRunner: QueryRunner | undefined): Promise<void> {
  const runner = queryRunner && !queryRunner.isReleased ? queryRunner : undefined;
  for (const [target, ids] of found) {
    // Rows already known to be the tenant's on this connection need no query (known-rows.ts).
    const unknown = unknownIds(runner, scope, target, [...ids.keys()]);
    if (unknown.length === 0) continue;
    const primary = target.primaryColumns[0]!;
    const qb = withScope(scope.registry.dataSource.createQueryBuilder(target.target, 'ref', runner), scope)
      .withDeleted()
      .select(`ref.${primary.propertyPath}`, 'id')
      .where(`ref.${primary.propertyPath} IN (:...tenancyReferenceIds)`, { tenancyReferenceIds: unknown });
    const present = new Set((await qb.getRawMany<{ id: unknown }>()).map((r) => String(r.id)));
    for (const id of unknown) if (!present.has(String(id))) throw mismatch(scope, ids.get(id)!, id, operation);
    rememberIds(runner, scope, target, unknown);
  }
}
