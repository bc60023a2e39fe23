import type { ObjectLiteral, QueryRunner } from 'typeorm';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { RelationMetadata } from 'typeorm/metadata/RelationMetadata.js';
import { TenantMismatchError, UnsafeQueryError } from '../errors.js';
import { findForeignReference, type References } from './reference-query.js';
import type { ScopeContext } from './scope-context.js';
import type { ScopeRegistry } from './scope-registry.js';
import { describeValue } from './describe-value.js';
import { isSameTenant, type TenantId } from './tenant-key.js';
import { refused } from './refusal.js';

/** The refusal of a write that names a row outside the tenant. */
export function referenceMismatch(scope: ScopeContext, relation: RelationMetadata, id: unknown, operation: string, cause?: unknown): TenantMismatchError {
  return refused(scope, new TenantMismatchError(
    `${operation} would point ${relation.entityMetadata.name}.${relation.propertyName} at ${relation.inverseEntityMetadata.name} ${describeValue(id)}, ` +
      `which is not a row of tenant ${String(scope.tenantId)}. Reference rows of the same tenant only (load them through this manager).`,
    { entity: relation.entityMetadata.name, operation, tenant: scope.tenantId, cause },
  ));
}

// TypeORM writes a function value as raw SQL (`author: () => '(SELECT ...)'`): which row it names
// is known only to the database, so the library cannot check it (composite keys let the database do it).
function isRawSql(related: unknown): boolean {
  if (typeof related === 'function') return true;
  if (typeof related !== 'object' || related === null) return false;
  return Object.values(related as ObjectLiteral).some((v) => typeof v === 'function');
}

function rawSqlReference(scope: ScopeContext, relation: RelationMetadata, operation: string): UnsafeQueryError {
  return refused(scope, new UnsafeQueryError(
    `${operation} sets ${relation.entityMetadata.name}.${relation.propertyName} with raw SQL, which the library cannot check against tenant ${String(scope.tenantId)}. ` +
      'Give the related row (or its id), use compositeKeys for this relation so the database checks it, or pass { safe: false } on purpose.',
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
      if (isRawSql(related) && !scope.registry.isEnforced(relation)) throw rawSqlReference(scope, relation, operation);
      const scoped = scope.registry.scopedEntity(target)!;
      if (typeof related === 'object') {
        const own: unknown = scoped.column.getEntityValue(related as ObjectLiteral);
        if (own !== undefined && own !== null && !isSameTenant(own, scope.tenantId as TenantId, scope.registry.tenantKey)) {
          throw referenceMismatch(scope, relation, target.getEntityIdMixedMap(related as ObjectLiteral), operation);
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
 * Cheap, synchronous: whether any of `entities` holds a relation value the reference check must
 * look at (a relation the database does not check itself, or a new related row to walk into).
 * A plain update (`{ title }`) or a write whose references the database checks needs no check.
 */
export function needsReferenceCheck(scope: ScopeContext, metadata: EntityMetadata, entities: readonly unknown[]): boolean {
  if (!scope.safe || scope.tenantId === undefined) return false;
  const relations = referencingRelations(scope, metadata);
  if (relations.length === 0) return false;
  for (const entity of entities) {
    if (entity === null || typeof entity !== 'object') continue;
    for (const relation of relations) {
      if (relation.isLazy) continue;
      const value: unknown = relation.getEntityValue(entity as ObjectLiteral);
      if (value === undefined || value === null) continue;
      if (!scope.registry.isEnforced(relation)) return true;
      // Enforced by the database: only a related object without a key (a new row to walk into) needs a look.
      const target = relation.inverseEntityMetadata;
      if (typeof value === 'object' && !Array.isArray(value) && target.getEntityIdMixedMap(value as ObjectLiteral) === undefined) return true;
      const own: unknown = typeof value === 'object' ? scope.registry.scopedEntity(target)?.column.getEntityValue(value as ObjectLiteral) : undefined;
      if (own !== undefined && own !== null) return true; // names a tenant: compared in the check
    }
  }
  return false;
}

/**
 * Collects the references of one write — entities of one or several classes — and checks them
 * together: one query for every referenced entity type (through the tenant scope), none when
 * every referenced row is already known on the runner (known-rows.ts).
 */
export class ReferenceCheck {
  readonly #found: References = new Map();
  readonly #seen = new Set<object>();

  constructor(
    readonly scope: ScopeContext,
    readonly operation: string,
  ) {}

  /** Adds the references of `entities` of `metadata` (and of the new rows they cascade). */
  add(metadata: EntityMetadata, entities: readonly ObjectLiteral[]): this {
    for (const entity of entities) collect(this.scope, metadata, entity, this.#found, this.#seen, this.operation);
    return this;
  }

  /** The referenced ids collected so far, per entity (each with a relation that names it). */
  get references(): ReadonlyMap<EntityMetadata, ReadonlyMap<unknown, RelationMetadata>> {
    return this.#found;
  }

  /** Refuses with `TenantMismatchError` when a reference is not a row of the tenant. */
  verify(queryRunner: QueryRunner | undefined): Promise<void> {
    return verifyReferences(this.scope, this.#found, this.operation, queryRunner);
  }
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
  if (found.size === 0) return;
  const runner = queryRunner && !queryRunner.isReleased ? queryRunner : undefined;
  const foreign = await findForeignReference(scope, found, runner);
  if (foreign) throw referenceMismatch(scope, foreign[1], foreign[0], operation);
}
