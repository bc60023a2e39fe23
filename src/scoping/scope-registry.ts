import type { DataSource, EntityManager, ObjectLiteral, QueryRunner } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { ScopeContext } from './scope-context.js';
import type { TenantId, TenantKey } from './tenant-key.js';
import type { ResolvedRowLevelSecurity } from '../postgres/rls-options.js';
import { TableNames } from './table-names.js';
import { type JunctionSide, junctionSides } from './junction-guard.js';
import { enforcedRelations } from './enforced-references.js';
import type { ForeignKeyMetadata } from 'typeorm/metadata/ForeignKeyMetadata.js';
import type { RelationMetadata } from 'typeorm/metadata/RelationMetadata.js';
import { TenancyAudit } from '../audit/tenancy-audit.js';
import type { PreparedStatementNames } from '../postgres/prepared-statements.js';

const loadedEntityScopes = new WeakMap<object, ScopeContext>();

/** Where the schema strategy keeps a tenant's tables. */
export interface TenantSchemas {
  /** The tenant's schema name (validated identifier). */
  schemaOf(tenantId: TenantId): string;
  /** The transaction-local `search_path` of a tenant: its schema, then the default path. */
  searchPath(tenantId: TenantId): string;
}

/** Scoping facts of one tenant-scoped entity, computed once at `initialize()`. */
export interface ScopedEntity {
  readonly metadata: EntityMetadata;
  /** The column that holds the tenant id: the tenant column, or the tenant table's primary key. */
  readonly column: ColumnMetadata;
  /**
   * The tenant table itself, seen through a tenant manager: scoped by its own primary key
   * (a tenant sees and changes only its own row, and cannot create or delete tenant rows).
   */
  readonly tenantTable?: true;
}

/**
 * Everything one `Tenancy` knows about its DataSource after `initialize()`:
 * which entities are scoped, the tenant key, and which runners and loaded
 * entities belong to which scope. Lives on the Tenancy instance, never in
 * TypeORM's shared metadata.
 */
export class ScopeRegistry {
  readonly #scoped: ReadonlyMap<EntityMetadata, ScopedEntity>;
  readonly #tenantTable: ScopedEntity;
  readonly #junctions = new Map<EntityMetadata, JunctionSide[]>();
  readonly #enforced: ReadonlyMap<RelationMetadata, ForeignKeyMetadata>;
  readonly #enforcedByEntity = new Map<EntityMetadata, Array<[RelationMetadata, ForeignKeyMetadata]>>();
  readonly #withSafeColumn: ReadonlySet<EntityMetadata>;
  /**
   * Entities loaded through a scope: lazy relations of these load in the same scope.
   * One map for every registry: a lazy getter calls the loader of the DataSource that
   * built the object (the main one for a routed manager's `create()`) or, for `new`,
   * the prototype's (the DataSource initialized last); that loader must find the
   * scope, and so the DataSource, that saved or loaded the entity.
   */
  readonly entityScopes: WeakMap<object, ScopeContext> = loadedEntityScopes;

  constructor(
    readonly dataSource: DataSource,
    readonly tenantKey: TenantKey,
    scoped: ScopedEntity[],
    /** Makes a tenant manager own a runner (`runner.manager`), so subscribers and persistence see it. */
    readonly bindManager: (queryRunner: QueryRunner, scope: ScopeContext) => EntityManager,
    /** The scope bound by `tenancy.run()` in this async context, if any. */
    readonly contextScope: () => ScopeContext | undefined = () => undefined,
    /** PostgreSQL row-level security: every operation runs in a transaction bound to its tenant. */
    readonly rls?: ResolvedRowLevelSecurity,
    /** Schema strategy: every operation runs with the tenant schema first on `search_path`. */
    readonly schemas?: TenantSchemas,
    /**
     * A tenant database or shard: the same SQL runs in other DataSources of the same
     * Tenancy, so a shared result cache must not key a bypass query by its SQL alone.
     */
    readonly routedStorage = false,
  ) {
    this.#scoped = new Map(scoped.map((s) => [s.metadata, s]));
    this.#withSafeColumn = new Set(dataSource.entityMetadatas.filter((m) => m.findColumnWithPropertyName('safe')));
    this.lazyRelations = dataSource.entityMetadatas.some((m) => m.relations.some((r) => r.isLazy));
    this.#tenantTable = { metadata: tenantKey.column.entityMetadata, column: tenantKey.column, tenantTable: true };
    this.tableNames = new TableNames(dataSource);
    this.#enforced = enforcedRelations(this.#scoped);
    for (const [relation, fk] of this.#enforced) {
      const list = this.#enforcedByEntity.get(relation.entityMetadata) ?? [];
      list.push([relation, fk]);
      this.#enforcedByEntity.set(relation.entityMetadata, list);
    }
    for (const metadata of dataSource.entityMetadatas) {
      const sides = junctionSides(metadata, (m) => this.#scoped.get(m));
      if (sides.length > 0) this.#junctions.set(metadata, sides);
    }
    // SQLite drivers hand every caller one runner: tenant operations then run on views of it.
    this.sharedRunners = dataSource.driver.createQueryRunner('master') === dataSource.driver.createQueryRunner('master');
    // Only where statements are cached by their text (better-sqlite3 with a statement cache).
    const options = dataSource.driver.options as { type: string; statementCacheSize?: number };
    this.bindsIntegers = options.type === 'better-sqlite3' && options.statementCacheSize !== 0;
  }

  /** The subscribers the Tenancy itself added to the DataSource (see `hasForeignSubscribers`). */
  readonly ownSubscribers = new Set<object>();

  /** True when the DataSource has subscribers other than the Tenancy's own: their events need a tenant manager. */
  hasForeignSubscribers(): boolean {
    return this.dataSource.subscribers.length > this.ownSubscribers.size;
  }

  /** The statements sent as named prepared statements (`preparedReferenceChecks`; set by the Tenancy). */
  statementNames: PreparedStatementNames | undefined;

  /** The Tenancy's `onBypass` hook and logger (set by the Tenancy; silent by default). */
  audit = new TenancyAudit(undefined, undefined);

  /** True when the driver gives every caller the same QueryRunner (SQLite): see runner-scope.ts. */
  readonly sharedRunners: boolean;

  /** better-sqlite3: safe-integer parameters are bound rather than written into the SQL (see statement-parameters.ts). */
  readonly bindsIntegers: boolean;

  /** The tenant-scoped entity behind `metadata` (entities with a tenant column; not the tenant table). */
  scopedEntity(metadata: EntityMetadata | undefined): ScopedEntity | undefined {
    return metadata ? this.#scoped.get(metadata) : undefined;
  }

  /** What a tenant's operation on `metadata` is scoped by: its tenant column, or for the tenant table its primary key. */
  rowScope(metadata: EntityMetadata | undefined): ScopedEntity | undefined {
    if (!metadata) return undefined;
    return this.#scoped.get(metadata) ?? (metadata === this.#tenantTable.metadata ? this.#tenantTable : undefined);
  }

  /** The tenant-scoped sides of a junction or closure table (see junction-guard.ts); undefined for other tables. */
  junction(metadata: EntityMetadata | undefined): readonly JunctionSide[] | undefined {
    return metadata ? this.#junctions.get(metadata) : undefined;
  }

  /** True when the database enforces that the relation points into the tenant (a composite tenant foreign key). */
  isEnforced(relation: RelationMetadata): boolean {
    return this.#enforced.has(relation);
  }

  /** The relations of `metadata` with a composite tenant foreign key, and that key. */
  enforcedRelationsOf(metadata: EntityMetadata): ReadonlyArray<[RelationMetadata, ForeignKeyMetadata]> {
    return this.#enforcedByEntity.get(metadata) ?? [];
  }

  /** Resolves string table names the way the database does (quoting, letter case, default schema). */
  readonly tableNames: TableNames;

  /** True when some entity has a lazy relation: loaded entities are then remembered with their scope. */
  readonly lazyRelations: boolean;

  /**
   * Remembers the scope of loaded entities and of the related entities loaded with
   * them, so their lazy relations load in that scope later.
   */
  rememberLoaded(metadata: EntityMetadata, entities: unknown[], scope: ScopeContext, depth = 0): void {
    if (depth > 8) return;
    for (const entity of entities) {
      if (entity === null || typeof entity !== 'object' || this.entityScopes.has(entity)) continue;
      this.entityScopes.set(entity, scope);
      for (const relation of metadata.relations) {
        if (relation.isLazy && !Object.prototype.hasOwnProperty.call(entity, relation.propertyName)) continue;
        const value: unknown = relation.getEntityValue(entity as ObjectLiteral);
        if (value !== null && typeof value === 'object' && !(value instanceof Promise)) {
          this.rememberLoaded(relation.inverseEntityMetadata, Array.isArray(value) ? value : [value], scope, depth + 1);
        }
      }
    }
  }

  /** True when the entity has a `safe` property of its own (then `{ safe }` in a where is a criterion). */
  hasSafeColumn(metadata: EntityMetadata): boolean {
    return this.#withSafeColumn.has(metadata);
  }

  /**
   * @internal Test-only: `false` drops the app-side tenant criterion (reads, joins, and the
   * WHERE of updates and deletes), to prove that row-level security alone keeps tenants
   * apart. The guards that refuse another tenant's id on writes stay.
   */
  appSideCriteria = true;

  /** True when tenant operations run in transactions bound to the tenant (RLS, schema strategy). */
  get bindsTransactions(): boolean {
    return this.rls !== undefined || this.schemas !== undefined;
  }

  /** The scope of code that has no tenant: any tenant-scoped entity is refused. */
  readonly unknownScope: ScopeContext = { registry: this, tenantId: undefined, safe: true };

  get scopedEntities(): Iterable<ScopedEntity> {
    return this.#scoped.values();
  }
}
