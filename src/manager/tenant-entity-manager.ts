import {
  type DataSource,
  EntityManager,
  type EntityTarget,
  type FindManyOptions,
  type FindOneOptions,
  type FindOptionsWhere,
  type DeleteResult,
  type ObjectLiteral,
  type UpdateResult,
  type QueryRunner,
  type SelectQueryBuilder,
} from 'typeorm';
import type { PickKeysByType } from 'typeorm/common/PickKeysByType.js';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity.js';
import type { IsolationLevel } from 'typeorm/driver/types/IsolationLevel.js';
import { MissingTenantError, UnsafeQueryError } from '../errors.js';
import { DriverUtils, PlainObjectToDatabaseEntityTransformer } from '../internal/typeorm/deep-imports.js';
import { shareQueryRunner } from '../internal/typeorm/instance-members.js';
import type { ScopeContext } from '../scoping/scope-context.js';
import { newScopedSelect } from '../scoping/scoped-query-builders.js';
import { scopedTarget } from '../scoping/tenant-criterion.js';
import { assertTenantRowWrite } from '../scoping/tenant-row-guard.js';
import { refused } from '../scoping/refusal.js';
import type { TenantId } from '../scoping/tenant-key.js';
import { type SafeOption, splitSafe } from './safe-option.js';
import { runTransaction } from './transaction.js';
import { assertBypassAllowed, inScopedTransaction } from '../postgres/transaction-binding.js';
import { assertRawSqlAllowed } from '../postgres/raw-sql-guard.js';
import { newTenantRunner, tenantRunner } from '../scoping/runner-scope.js';

type Where<Entity> = FindOptionsWhere<Entity> | FindOptionsWhere<Entity>[];

/** One of TypeORM's read methods, called on a manager with (target, options) or (target, column, where). */
type BaseRead = (this: EntityManager, ...args: unknown[]) => Promise<unknown>;
// (Each read is routed to TypeORM's own method: on the bypass manager too, whose override would only route to itself.)
type ReadName = 'find' | 'findBy' | 'findAndCount' | 'findAndCountBy' | 'findOne' | 'findOneBy' | 'findOneOrFail' | 'findOneByOrFail'
  | 'count' | 'countBy' | 'exists' | 'existsBy' | 'sum' | 'average' | 'minimum' | 'maximum';
const base = EntityManager.prototype as unknown as Readonly<Record<ReadName, BaseRead>>;

/**
 * An `EntityManager` bound to one tenant. Every method keeps TypeORM's signature
 * and behaviour, scoped to the tenant: reads see only its rows (every scoped
 * alias, joins included), writes stamp it and touch only its rows, and another
 * tenant's id is refused with `TenantMismatchError`. Repositories, tree
 * repositories and transactions obtained from it are scoped the same way.
 *
 * Get one from `tenancy.manager(tenant)`; creating one runs no query.
 *
 * @example
 * const em = tenancy.manager(1);
 * await em.find(Post); // SELECT ... FROM "posts" "Post" WHERE "Post"."tenant_id" = ?
 */
export class TenantEntityManager extends EntityManager {
  readonly #scope: ScopeContext;
  #bypass: TenantEntityManager | undefined;
  #bypassOf: ScopeContext | undefined;

  /** @internal Use `tenancy.manager(tenant)`. */
  constructor(dataSource: DataSource, queryRunner: QueryRunner | undefined, scope: ScopeContext) {
    super(dataSource, queryRunner);
    this.#scope = scope;
  }

  /** @internal The scope every operation of this manager runs in. */
  get scope(): ScopeContext {
    return this.#scope;
  }

  /** The tenant this manager is bound to. */
  get tenantId(): TenantId {
    const { tenantId } = this.scope;
    if (tenantId === undefined) {
      throw new MissingTenantError('This manager has no tenant bound. Use it inside tenancy.run(tenantId, fn).', { operation: 'tenantId' });
    }
    return tenantId;
  }

  /** The same tenant without scoping, sharing this manager's runner: what `{ safe: false }` uses. */
  #unsafe(): TenantEntityManager {
    const scope = this.scope;
    if (!scope.safe) return this;
    assertBypassAllowed(scope.registry.rls, scope.tenantId);
    // Made again when the scope changes: the default manager's scope follows tenancy.run().
    if (this.#bypassOf !== scope) {
      // The tenant stays known (its schema, its database); only the criterion is lifted.
      this.#bypass = new TenantEntityManager(this.dataSource, undefined, { registry: scope.registry, tenantId: scope.tenantId, safe: false });
      this.#bypassOf = scope;
      shareQueryRunner(this.#bypass, this.queryRunner);
    }
    return this.#bypass!;
  }

  /**
   * Runs TypeORM's read `method` on this manager, or on its bypass for `{ safe: false }`, and returns
   * TypeORM's promise itself (no async wrapper: one promise less per read); a refusal before any SQL
   * still comes back as a rejection.
   */
  #routed(operation: string, method: BaseRead, target: EntityTarget<ObjectLiteral>, options: unknown, column?: unknown): Promise<unknown> {
    try {
      const [em, rest] = this.#route(operation, target, options);
      return column === undefined ? method.call(em, target, rest) : method.call(em, target, column, rest);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The manager to run on (this one, or the bypass for `{ safe: false }`) and the options without `safe`. */
  #route<T>(operation: string, target: EntityTarget<ObjectLiteral>, options: T): [TenantEntityManager, T] {
    if (options === null || typeof options !== 'object' || !('safe' in options)) return [this, options];
    // An entity with its own `safe` column keeps `where: { safe }` as a criterion.
    const metadata = this.dataSource.getMetadata(target);
    const { safe, rest } = splitSafe(options, this.scope.registry.hasSafeColumn(metadata));
    if (safe) return [this, rest];
    const bypass = this.#unsafe();
    this.#audit(operation, metadata.name);
    return [bypass, rest];
  }

  /** Reports a `{ safe: false }` operation to the Tenancy's `onBypass` hook and logger (rule 11). */
  #audit(operation: string, entity?: string, sql?: string): void {
    const { registry, tenantId } = this.scope;
    if (registry.audit.watchesBypasses) registry.audit.bypass({ tenant: tenantId, entity, operation, ...(sql === undefined ? {} : { sql }) });
  }

  override createQueryBuilder<Entity extends ObjectLiteral>(
    entityClass: EntityTarget<Entity>,
    alias: string,
    queryRunnerOrOptions?: QueryRunner | SafeOption,
  ): SelectQueryBuilder<Entity>;
  override createQueryBuilder(queryRunner?: QueryRunner): SelectQueryBuilder<any>;
  override createQueryBuilder<Entity extends ObjectLiteral>(
    entityOrRunner?: EntityTarget<Entity> | QueryRunner,
    alias?: string,
    queryRunnerOrOptions?: QueryRunner | SafeOption,
  ): SelectQueryBuilder<Entity> {
    let scope = this.scope;
    let queryRunner = queryRunnerOrOptions as QueryRunner | undefined;
    if (queryRunnerOrOptions && !('query' in queryRunnerOrOptions)) {
      const { safe } = splitSafe(queryRunnerOrOptions, false);
      if (!safe) {
        assertBypassAllowed(scope.registry.rls, scope.tenantId);
        scope = { registry: scope.registry, tenantId: scope.tenantId, safe: false };
        this.#audit('createQueryBuilder', alias ? this.dataSource.getMetadata(entityOrRunner as EntityTarget<Entity>).name : undefined);
      }
      queryRunner = undefined;
    }
    // Built as the scoped class directly, as DataSource#createQueryBuilder builds a plain one.
    if (!alias) return newScopedSelect(this.dataSource, (entityOrRunner as QueryRunner | undefined) ?? this.queryRunner, scope);
    const name = DriverUtils.buildAlias(this.dataSource.driver, undefined, alias);
    const target = this.dataSource.getMetadata(entityOrRunner as EntityTarget<Entity>).target;
    return newScopedSelect(this.dataSource, queryRunner ?? this.queryRunner, scope).select(name).from(target, name);
  }

  // Reads: see #routed.
  override find<Entity extends ObjectLiteral>(entityClass: EntityTarget<Entity>, options?: FindManyOptions<Entity>): Promise<Entity[]> {
    return this.#routed('find', base.find, entityClass, options) as Promise<Entity[]>;
  }
  override findBy<Entity extends ObjectLiteral>(entityClass: EntityTarget<Entity>, where: Where<Entity> | SafeOption): Promise<Entity[]> {
    return this.#routed('findBy', base.findBy, entityClass, where) as Promise<Entity[]>;
  }
  override findAndCount<Entity extends ObjectLiteral>(entityClass: EntityTarget<Entity>, options?: FindManyOptions<Entity>): Promise<[Entity[], number]> {
    return this.#routed('findAndCount', base.findAndCount, entityClass, options) as Promise<[Entity[], number]>;
  }
  override findAndCountBy<Entity extends ObjectLiteral>(entityClass: EntityTarget<Entity>, where: Where<Entity> | SafeOption): Promise<[Entity[], number]> {
    return this.#routed('findAndCountBy', base.findAndCountBy, entityClass, where) as Promise<[Entity[], number]>;
  }
  override findOne<Entity extends ObjectLiteral>(entityClass: EntityTarget<Entity>, options: FindOneOptions<Entity>): Promise<Entity | null> {
    return this.#routed('findOne', base.findOne, entityClass, options) as Promise<Entity | null>;
  }
  override findOneBy<Entity extends ObjectLiteral>(entityClass: EntityTarget<Entity>, where: Where<Entity> | SafeOption): Promise<Entity | null> {
    return this.#routed('findOneBy', base.findOneBy, entityClass, where) as Promise<Entity | null>;
  }
  override findOneOrFail<Entity extends ObjectLiteral>(entityClass: EntityTarget<Entity>, options: FindOneOptions<Entity>): Promise<Entity> {
    return this.#routed('findOneOrFail', base.findOneOrFail, entityClass, options) as Promise<Entity>;
  }
  override findOneByOrFail<Entity extends ObjectLiteral>(entityClass: EntityTarget<Entity>, where: Where<Entity> | SafeOption): Promise<Entity> {
    return this.#routed('findOneByOrFail', base.findOneByOrFail, entityClass, where) as Promise<Entity>;
  }
  override count<Entity extends ObjectLiteral>(entityClass: EntityTarget<Entity>, options?: FindManyOptions<Entity>): Promise<number> {
    return this.#routed('count', base.count, entityClass, options) as Promise<number>;
  }
  override countBy<Entity extends ObjectLiteral>(entityClass: EntityTarget<Entity>, where: Where<Entity> | SafeOption): Promise<number> {
    return this.#routed('countBy', base.countBy, entityClass, where) as Promise<number>;
  }
  override exists<Entity extends ObjectLiteral>(entityClass: EntityTarget<Entity>, options?: FindManyOptions<Entity>): Promise<boolean> {
    return this.#routed('exists', base.exists, entityClass, options) as Promise<boolean>;
  }
  override existsBy<Entity extends ObjectLiteral>(entityClass: EntityTarget<Entity>, where: Where<Entity> | SafeOption): Promise<boolean> {
    return this.#routed('existsBy', base.existsBy, entityClass, where) as Promise<boolean>;
  }
  override sum<Entity extends ObjectLiteral>(entityClass: EntityTarget<Entity>, column: PickKeysByType<Entity, number>, where?: Where<Entity> | SafeOption): Promise<number | null> {
    return this.#routed('sum', base.sum, entityClass, where, column) as Promise<number | null>;
  }
  override average<Entity extends ObjectLiteral>(entityClass: EntityTarget<Entity>, column: PickKeysByType<Entity, number>, where?: Where<Entity> | SafeOption): Promise<number | null> {
    return this.#routed('average', base.average, entityClass, where, column) as Promise<number | null>;
  }
  override minimum<Entity extends ObjectLiteral>(entityClass: EntityTarget<Entity>, column: PickKeysByType<Entity, number>, where?: Where<Entity> | SafeOption): Promise<number | null> {
    return this.#routed('minimum', base.minimum, entityClass, where, column) as Promise<number | null>;
  }
  override maximum<Entity extends ObjectLiteral>(entityClass: EntityTarget<Entity>, column: PickKeysByType<Entity, number>, where?: Where<Entity> | SafeOption): Promise<number | null> {
    return this.#routed('maximum', base.maximum, entityClass, where, column) as Promise<number | null>;
  }

  /**
   * Runs `runInTransaction` in a transaction with a `TenantEntityManager` bound to
   * its connection: everything inside is scoped, and nested calls reuse it.
   */
  override transaction<T>(runInTransaction: (entityManager: TenantEntityManager) => Promise<T>): Promise<T>;
  override transaction<T>(isolationLevel: IsolationLevel, runInTransaction: (entityManager: TenantEntityManager) => Promise<T>): Promise<T>;
  override transaction<T>(
    isolationOrRun: IsolationLevel | ((entityManager: TenantEntityManager) => Promise<T>),
    maybeRun?: (entityManager: TenantEntityManager) => Promise<T>,
  ): Promise<T> {
    return runTransaction(this, maybeRun ? [isolationOrRun, maybeRun] : [isolationOrRun]) as Promise<T>;
  }

  // insert() and upsert() are TypeORM's: their scoped insert builder stamps the tenant, refuses
  // another tenant's id and checks the rows' references (folded into a one-row insert).

  override update<Entity extends ObjectLiteral>(
    target: EntityTarget<Entity>,
    criteria: Parameters<EntityManager['update']>[1],
    partialEntity: QueryDeepPartialEntity<Entity>,
    options?: Parameters<EntityManager['update']>[3],
  ): Promise<UpdateResult> {
    // The scoped update builder checks the relations it sets.
    return this.#rowWrite(target, criteria, 'update', false, () => super.update(target, criteria, partialEntity, options));
  }

  /** Like TypeORM's; on the tenant table only the own row can be named, and it cannot be deleted. */
  override delete<Entity extends ObjectLiteral>(target: EntityTarget<Entity>, criteria: Parameters<EntityManager['delete']>[1]): Promise<DeleteResult> {
    return this.#rowWrite(target, criteria, 'delete', true, () => super.delete(target, criteria));
  }

  override softDelete<Entity extends ObjectLiteral>(target: EntityTarget<Entity>, criteria: Parameters<EntityManager['softDelete']>[1]): Promise<UpdateResult> {
    return this.#rowWrite(target, criteria, 'softDelete', true, () => super.softDelete(target, criteria));
  }

  override restore<Entity extends ObjectLiteral>(target: EntityTarget<Entity>, criteria: Parameters<EntityManager['restore']>[1]): Promise<UpdateResult> {
    return this.#rowWrite(target, criteria, 'restore', false, () => super.restore(target, criteria));
  }
  // update/delete/softDelete/restore: on the tenant table only the own row can be named (see
  // assertTenantRowWrite); a refusal is a rejected promise, as TypeORM's own errors are.
  #rowWrite<T>(target: EntityTarget<ObjectLiteral>, criteria: unknown, operation: string, deletes: boolean, run: () => Promise<T>): Promise<T> {
    try {
      assertTenantRowWrite(this.scope, this.dataSource.getMetadata(target), criteria, operation, deletes);
      return run();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** TypeORM's `preload` reads through the DataSource's default manager; this one reads through this manager. */
  override async preload<Entity extends ObjectLiteral>(entityClass: EntityTarget<Entity>, entityLike: Parameters<EntityManager['preload']>[1]): Promise<Entity | undefined> {
    const metadata = this.dataSource.getMetadata(entityClass);
    const loaded = await new PlainObjectToDatabaseEntityTransformer(this).transform(entityLike, metadata);
    return loaded ? this.merge(entityClass, loaded as Entity, entityLike as Entity) : undefined;
  }

  /** `clear()` is TRUNCATE: whole table, every tenant. Refused for scoped entities. */
  override async clear<Entity>(entityClass: EntityTarget<Entity>, options?: { cascade?: boolean }): Promise<void> {
    const scoped = scopedTarget(this.scope, this.dataSource.getMetadata(entityClass), 'clear');
    if (scoped) {
      throw refused(this.scope, new UnsafeQueryError(
        `clear() truncates ${scoped.metadata.name} for every tenant. Use deleteAll(${scoped.metadata.name}) to delete this tenant's rows, ` +
          'or call clear() on a manager created with { safe: false } semantics (dataSource.manager) on purpose.',
        { entity: scoped.metadata.name, operation: 'clear', tenant: this.scope.tenantId },
      ));
    }
    return super.clear(entityClass, options);
  }

  /**
   * Raw SQL cannot be scoped by the library: refused unless `{ safe: false }` is passed.
   * With row-level security on, it is allowed and runs in a transaction bound to the
   * tenant, so the database applies the policies (`{ safe: false }` then runs as the bypass
   * role). On a bound connection (RLS, the schema strategy) it is vetted first with
   * PostgreSQL's parser: SQL that could change the binding, the role, settings, session
   * state or the transaction is refused with `UnsafeQueryError` before anything runs.
   */
  override async query<T = any>(query: string, parameters?: any[], options?: SafeOption): Promise<T> {
    const { safe } = splitSafe(options ?? {}, false);
    const { registry } = this.scope;
    const { tenantId } = this.scope;
    const bypass = !safe || !this.scope.safe;
    if (!safe) this.#audit('query', undefined, query);
    // RLS: the database scopes raw SQL, so it runs bound; schema strategy: a bypass runs in the tenant's schema.
    if (registry.rls ? tenantId !== undefined || bypass : registry.schemas !== undefined && bypass && tenantId !== undefined) {
      const scope: ScopeContext = safe ? this.scope : { registry, tenantId, safe: false };
      // Refused before anything is sent: SQL that could change the binding, the role or session state.
      await assertRawSqlAllowed(query, { operation: 'query', tenant: tenantId });
      // Several statements in one text without parameters go by the simple protocol, which cannot carry a fused binding.
      const fusable = !!parameters?.length || !query.includes(';');
      return inScopedTransaction(registry, scope, this.queryRunner, (runner) => runner.query(query, parameters) as Promise<T>, { fusable });
    }
    if (safe && this.scope.safe && this.refusesRawSql()) {
      throw refused(this.scope, new UnsafeQueryError(
        `query()/sql run raw SQL that typeorm-tenancy cannot scope to tenant ${String(this.scope.tenantId)}. ` +
          'Use find/query builders, or pass query(sql, params, { safe: false }) and filter by tenant yourself.',
        { operation: 'query', tenant: this.scope.tenantId },
      ));
    }
    // On a runner of this tenant: subscribers of its query events get a manager of this tenant.
    const scope: ScopeContext = safe ? this.scope : { registry, tenantId, safe: false };
    const given = this.queryRunner;
    const runner = given ? tenantRunner(registry, given, scope, false) : newTenantRunner(registry, scope, undefined, false);
    try {
      return (await this.dataSource.query(query, parameters, runner)) as T;
    } finally {
      if (!given) await runner.release();
    }
  }

  /** @internal Raw SQL is refused in safe mode; the context manager allows it outside a tenant context. */
  protected refusesRawSql(): boolean {
    return true;
  }

  override getMongoRepository(): never {
    throw new UnsafeQueryError('MongoDB repositories are not supported by typeorm-tenancy.', { operation: 'getMongoRepository' });
  }
}
