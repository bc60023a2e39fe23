import type { DataSource, EntitySubscriberInterface, ObjectLiteral, QueryRunner, SelectQueryBuilder } from 'typeorm';
import type { RelationMetadata } from 'typeorm/metadata/RelationMetadata.js';
import { MissingTenantError, TenancyConfigError } from '../errors.js';
import { RelationLoader } from '../internal/typeorm/deep-imports.js';
import type { ScopeContext } from './scope-context.js';
import type { ScopeRegistry } from './scope-registry.js';
import { scopedTarget } from './tenant-criterion.js';
import { stampTenant } from './write-guard.js';
import { newTenantRunner, scopeOfRunner, tenantRunner } from './runner-scope.js';
import { transactionEnded } from './known-rows.js';

const baseLoad = RelationLoader.prototype.load;

function registryOf(dataSource: DataSource): ScopeRegistry | undefined {
  const loader = dataSource.relationLoader as unknown;
  return loader instanceof TenantRelationLoader ? loader.registry : undefined;
}

/**
 * Loads a relation of `of` for `scope`. TypeORM's loader builds its queries on
 * the DataSource with the runner it is handed: here a runner of the scope
 * (runner-scope.ts), so the DataSource's builder hands out a scoped builder.
 * With no scope, scoped entities are refused.
 */
export function loadRelationInScope(
  dataSource: DataSource,
  relation: RelationMetadata,
  of: ObjectLiteral | ObjectLiteral[],
  queryRunner: QueryRunner | undefined,
  scope: ScopeContext | undefined,
  loadEagerRelations?: boolean,
): Promise<unknown[]> {
  const registry = registryOf(dataSource);
  const loader = dataSource.relationLoader;
  if (!registry) return baseLoad.call(loader, relation, of, queryRunner, undefined, loadEagerRelations);
  // Thrown synchronously: a lazy getter would otherwise leave an unhandled rejection behind.
  const bound = scope ?? refuseUnknownScope(registry, relation);
  const given = queryRunner && !queryRunner.isReleased ? queryRunner : undefined;
  const runner = given ? tenantRunner(registry, given, bound, false) : newTenantRunner(registry, bound);
  const load = baseLoad.call(loader, relation, of, runner, undefined, loadEagerRelations);
  return given ? load : load.finally(() => runner.release());
}

function refuseUnknownScope(registry: ScopeRegistry, relation: RelationMetadata): ScopeContext {
  const scoped = registry.scopedEntity(relation.entityMetadata) ?? registry.scopedEntity(relation.inverseEntityMetadata);
  if (scoped) {
    throw new MissingTenantError(
      `Loading ${relation.entityMetadata.name}.${relation.propertyName} needs a tenant, and the entity was not loaded through a tenant manager. ` +
        'Load it with tenancy.manager(tenantId) (or inside tenancy.run) before reading lazy relations.',
      { entity: scoped.metadata.name, operation: 'relation load' },
    );
  }
  return registry.unknownScope;
}

/**
 * The DataSource's relation loader (lazy relations, `relation().of().load*`).
 * Installed on one DataSource instance before `initialize()`, because lazy
 * getters capture the loader while metadata is built.
 */
export class TenantRelationLoader extends RelationLoader {
  registry: ScopeRegistry | undefined;
  readonly #dataSource: DataSource;

  constructor(dataSource: DataSource) {
    super(dataSource);
    this.#dataSource = dataSource;
  }

  override load(
    relation: RelationMetadata,
    entityOrEntities: ObjectLiteral | ObjectLiteral[],
    queryRunner?: QueryRunner,
    queryBuilder?: SelectQueryBuilder<any>,
    loadEagerRelations?: boolean,
  ): Promise<any[]> {
    // A caller that built the query (relationLoadStrategy "query") built it scoped.
    if (queryBuilder || !this.registry) return super.load(relation, entityOrEntities, queryRunner, queryBuilder, loadEagerRelations);
    const registry = this.registry;
    const entities = Array.isArray(entityOrEntities) ? entityOrEntities : [entityOrEntities];
    // The operation that asks (a relation().of() builder, a load inside a transaction), else the entities'.
    let scope = queryRunner && !queryRunner.isReleased ? scopeOfRunner(queryRunner) : undefined;
    if (scope && scope.registry !== registry) scope = undefined;
    for (const entity of entities) {
      const entityScope = registry.entityScopes.get(entity);
      if (scope && entityScope && entityScope !== scope && entityScope.tenantId !== scope.tenantId) {
        throw new MissingTenantError(`Entities of different tenants cannot load ${relation.propertyName} together.`, {
          entity: relation.entityMetadata.name,
          operation: 'relation load',
        });
      }
      scope ??= entityScope;
    }
    scope ??= registry.contextScope();
    const source = scope && scope.registry !== registry ? scope.registry.dataSource : this.#dataSource;
    if (!source.isInitialized) {
      // A tenant database or shard closed since (idle, maxOpen, tenancy.destroy()): its pool is gone.
      throw new TenancyConfigError(
        `Loading ${relation.entityMetadata.name}.${relation.propertyName}: the DataSource it would load from (a tenant database or shard) is closed. ` +
          'Load the entity again through tenancy.manager(tenantId) to read its lazy relations.',
        { entity: relation.entityMetadata.name, operation: 'relation load', tenant: scope?.tenantId },
      );
    }
    if (scope && scope.registry !== registry) {
      // Saved or loaded by another DataSource of the same entity classes (a tenant database, a
      // shard), but its getter is this DataSource's: the rows live where the entity came from.
      const origin = scope.registry.dataSource;
      const own = origin.getMetadata(relation.entityMetadata.target).findRelationWithPropertyPath(relation.propertyPath);
      if (!own) {
        throw new TenancyConfigError(`The DataSource that loaded this ${relation.entityMetadata.name} has no relation ${relation.propertyPath}.`, {
          entity: relation.entityMetadata.name,
          operation: 'relation load',
        });
      }
      return loadRelationInScope(origin, own, entityOrEntities, undefined, scope, loadEagerRelations);
    }
    return loadRelationInScope(this.#dataSource, relation, entityOrEntities, queryRunner, scope, loadEagerRelations);
  }
}

function remember(registry: ScopeRegistry, runner: QueryRunner, entity: unknown): void {
  if (!registry.lazyRelations) return; // only lazy relations ask which scope an entity came from
  const scope = scopeOfRunner(runner);
  if (scope?.registry === registry && entity !== null && typeof entity === 'object') registry.entityScopes.set(entity, scope);
}

/**
 * The DataSource subscriber of a Tenancy: stamps the tenant on every entity
 * persisted in a scope (cascades included) before TypeORM builds its insert, so
 * the saved objects show their tenant, and remembers the scope of saved entities
 * for their lazy relations. (Loaded entities are remembered by the scoped select
 * builder: an afterLoad subscriber would make TypeORM walk every loaded entity.)
 */
export function scopeSubscriber(registry: ScopeRegistry): EntitySubscriberInterface {
  return {
    beforeInsert(event) {
      const scope = scopeOfRunner(event.queryRunner);
      if (scope?.registry !== registry) return;
      const scoped = scopedTarget(scope, event.metadata, 'insert');
      if (scoped && !scoped.tenantTable && event.entity) stampTenant([event.entity], scoped, scope!, 'insert');
    },
    afterInsert(event) {
      remember(registry, event.queryRunner, event.entity);
    },
    // The transaction ended (a rolled-back insert is gone): what its runner knew is forgotten.
    afterTransactionCommit(event) {
      if (!event.queryRunner.isTransactionActive) transactionEnded(event.queryRunner);
    },
    afterTransactionRollback(event) {
      if (!event.queryRunner.isTransactionActive) transactionEnded(event.queryRunner);
    },
    afterUpdate(event) {
      remember(registry, event.queryRunner, event.entity);
    },
  };
}
