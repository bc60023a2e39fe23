import { AsyncLocalStorage } from 'node:async_hooks';
import { type DataSource, type EntitySubscriberInterface, type EntityTarget, type ObjectLiteral, type QueryRunner } from 'typeorm';
import { MissingTenantError, TenancyConfigError } from './errors.js';
import { aroundInitialize, replaceDefaultManager, replaceRelationLoader, wrapDataSourceQueryBuilder, wrapQueryResultCache } from './internal/typeorm/instance-members.js';
import { buildEntityMetadatasOffline } from './internal/typeorm/offline-metadata.js';
import { buildMetadataFrom } from './internal/typeorm/metadata-build.js';
import type { MetadataArgsStorage } from 'typeorm/metadata-args/MetadataArgsStorage.js';
import { prepareTenantSchema } from './metadata/prepare-tenant-schema.js';
import { collectScopedEntities } from './metadata/collect-scoped.js';
import { type CompositeKeys, defaultCompositeKeys } from './metadata/tenant-marks.js';
import './manager/bound-operations.js';
import { TenantEntityManager } from './manager/tenant-entity-manager.js';
import { ContextEntityManager } from './manager/context-entity-manager.js';
import { scopeSubscriber, TenantRelationLoader } from './scoping/relation-loading.js';
import type { ScopeContext } from './scoping/scope-context.js';
import { type ScopedEntity, ScopeRegistry } from './scoping/scope-registry.js';
import { withScope } from './scoping/scoped-query-builders.js';
import { markContextual } from './scoping/scope-carrier.js';
import { plainRunnerView, scopeOfRunner } from './scoping/runner-scope.js';
import { type BypassEvent, TenancyAudit, type TenancyLogger, typeormLogger } from './audit/tenancy-audit.js';
import { resolveTenantId, type TenantId, tenantKeyKind, type TenantRef } from './scoping/tenant-key.js';
import { resolveRowLevelSecurity, type ResolvedRowLevelSecurity, type RowLevelSecurityOptions } from './postgres/rls-options.js';
import { bindingOf, transactionBindingSubscriber } from './postgres/transaction-binding.js';
import { rawSqlGuardSubscriber } from './postgres/raw-sql-guard.js';
import { watchDataSourceConnections } from './postgres/connection-hygiene.js';
import { installFusingClient } from './postgres/fused-binding.js';
import { PreparedStatementNames } from './postgres/prepared-statements.js';
import { type PolicyTables, RowLevelSecurity } from './postgres/row-level-security.js';
import type { RowLevelSecurityProblem } from './postgres/rls-verify.js';
import { type KeyProblem, verifyTenantKeys } from './metadata/verify-keys.js';
import { verifySqliteForeignKeys } from './metadata/verify-foreign-keys.js';
import { verifyFoldBlockers } from './metadata/verify-fold-blockers.js';
import { type CitusPlan, citusPlan } from './postgres/citus-sql.js';
import { SchemaStrategy, type SchemaStrategyOptions } from './strategies/schema-strategy.js';
import { rowStrategy, type StorageStrategy } from './strategies/storage-strategy.js';
import { DatabaseStrategy, type DatabaseStrategyOptions, ShardStrategy, type ShardingOptions } from './strategies/routed-strategy.js';
import { contextRoutedManager, routedManager } from './strategies/routed-manager.js';
import { forEachShard, forEachTenant, type MigrateAllOptions, type MigrationSummary, TenantCatalog } from './strategies/tenant-catalog.js';

function isQueryRunner(value: unknown): value is QueryRunner {
  return typeof value === 'object' && value !== null && 'query' in value && 'connection' in value;
}

/** Options of `new Tenancy(dataSource, options)`. */
export interface TenancyOptions {
  /**
   * What `dataSource.manager` (and so `dataSource.getRepository()`, `@InjectRepository()`,
   * `BaseEntity`) does. `'context'`: scoped to the tenant bound by `tenancy.run()`, and
   * refusing tenant-scoped entities outside it (shared entities work everywhere,
   * `{ safe: false }` still bypasses). `'unscoped'`: plain TypeORM. Defaults to `'context'`.
   */
  defaultManager?: 'context' | 'unscoped';
  /**
   * PostgreSQL row-level security as a second wall: policies generated from the same
   * metadata (`tenancy.rls`), and every tenant operation run in a transaction bound
   * with `SELECT set_config($1, $2, true)`. `true` for the defaults. Defaults to off.
   */
  rowLevelSecurity?: true | RowLevelSecurityOptions;
  /**
   * Tenant-aware keys for every scoped entity (each can override it in `@TenantScoped`):
   * `true` adds `UNIQUE (tenant_id, id)` and composite foreign keys between scoped
   * entities; `'primary'` makes `(id, tenant_id)` the primary key (Citus). Applies to this
   * DataSource only: another DataSource over the same classes keeps its own keys. Defaults to `false`.
   */
  compositeKeys?: CompositeKeys;
  /**
   * PostgreSQL (node-postgres): send each one-row insert that checks a related row inside the
   * statement (a relation given as an entity or `{ id }`, with single-column keys) as a named
   * prepared statement, so PostgreSQL plans it once per connection instead of on every insert.
   * Behind a pooler that moves clients between server connections without keeping their prepared
   * statements (PgBouncer before 1.21, or without `max_prepared_statements`), the first failure of a
   * statement's name sends it again unnamed, and unnamed from then on: no error reaches the caller.
   * No effect on other databases (SQLite's statements are prepared once anyway). Defaults to `true`
   * where the library can send them (node-postgres 8.21 or later, not pg-native), otherwise off;
   * `true` refuses a pg it cannot send them through, `false` sends every statement unnamed.
   */
  preparedReferenceChecks?: boolean;
  /**
   * Where tenants' rows live; the manager API is the same for all. `'row'` (default):
   * shared tables, `tenant_id` in every row (with `shards`: spread over several databases).
   * `'schema'` (PostgreSQL): a schema per tenant, see `schema`. `'database'`: a database
   * per tenant, see `database`.
   */
  strategy?: 'row' | 'schema' | 'database';
  /** Options of the schema strategy. */
  schema?: SchemaStrategyOptions;
  /** Options of the database strategy. */
  database?: DatabaseStrategyOptions;
  /** Row-level tenancy over several databases: shard connection options by name. Needs `shardOf`. */
  shards?: ShardingOptions['shards'];
  /** The shard of a tenant, for `shards`. */
  shardOf?: ShardingOptions['shardOf'];
  /**
   * Called for every `{ safe: false }` operation (find options, `createQueryBuilder(..., { safe: false })`,
   * `query(sql, params, { safe: false })`) with `{ tenant, entity, operation, sql?, callSite }`, before it
   * runs — `callSite` is the caller's stack frame. Throwing refuses the operation. Called synchronously; a
   * returned promise is not awaited. Defaults to none.
   */
  onBypass?: (event: BypassEvent) => unknown;
  /**
   * Receives the library's decisions: each bypass (`info`) and each refusal (`warn`, with the error).
   * `'typeorm'` forwards them to the DataSource's TypeORM logger. Defaults to none.
   */
  logger?: TenancyLogger | 'typeorm';
}

/**
 * Makes one DataSource multi-tenant. Create it before `dataSource.initialize()`:
 * at initialize it injects the tenant column, foreign key and index into every
 * `@TenantScoped()` entity and precomputes the scoping facts. Everything it
 * changes is on this DataSource instance; other DataSources are untouched.
 *
 * @example
 * const tenancy = new Tenancy(dataSource);
 * await dataSource.initialize();
 * const posts = await tenancy.manager(tenantId).find(Post);
 */
export class Tenancy {
  readonly dataSource: DataSource;
  readonly options: TenancyOptions;
  #registry: ScopeRegistry | undefined;
  readonly #loader: TenantRelationLoader;
  readonly #context = new AsyncLocalStorage<TenantEntityManager>();
  /** Set on the Tenancy of a tenant database or shard, which its routing Tenancy attaches. */
  #routedStorage = false;
  readonly #rowLevelSecurity: ResolvedRowLevelSecurity | undefined;
  readonly #strategy: StorageStrategy;
  #catalog: TenantCatalog | undefined;
  /** The decorator args this DataSource's metadata is built from: TypeORM's, plus the tenant columns and keys. */
  #metadataArgs: MetadataArgsStorage | undefined;
  #rls: RowLevelSecurity | undefined;
  /** The statements sent as named prepared statements (`preparedReferenceChecks`). */
  #statementNames: PreparedStatementNames | undefined;

  constructor(dataSource: DataSource, options: TenancyOptions = {}) {
    if (dataSource.isInitialized) {
      throw new TenancyConfigError(
        'new Tenancy(dataSource) was called after dataSource.initialize(); the tenant columns must be added to the metadata first. ' +
          'Create the Tenancy right after new DataSource(...) and initialize afterwards.',
        { operation: 'new Tenancy' },
      );
    }
    this.dataSource = dataSource;
    this.options = options;
    this.#rowLevelSecurity = options.rowLevelSecurity ? resolveRowLevelSecurity(dataSource, options.rowLevelSecurity) : undefined;
    this.#strategy = this.#createStrategy();
    this.#statementNames = this.#preparedStatementNames();
    // Bound operations carry their binding in the statement's own round trip (fusing-client.ts).
    if (this.#rowLevelSecurity || this.#strategy instanceof SchemaStrategy || this.#statementNames) {
      const installed = installFusingClient(dataSource, { preparedBinding: this.#rowLevelSecurity?.preparedBinding ?? false, names: this.#statementNames });
      // Asked for explicitly: refused where it cannot work. By default: off there.
      if (!installed && this.#statementNames && this.options.preparedReferenceChecks === true) {
        throw new TenancyConfigError(
          'preparedReferenceChecks needs node-postgres 8.21 or later (not pg-native): the library sends the named statements through its own pg.Client subclass. ' +
            'Drop the option, or use the pg driver.',
          { operation: 'new Tenancy' },
        );
      }
      if (!installed) this.#statementNames = undefined;
    }
    this.#loader = new TenantRelationLoader(dataSource);
    replaceRelationLoader(dataSource, this.#loader);
    // Tenants' rows in other DataSources: in 'context' mode the main DataSource's entry points route to them.
    const routed = this.#strategy instanceof DatabaseStrategy || this.#strategy instanceof ShardStrategy;
    wrapDataSourceQueryBuilder(dataSource, (original) => ((entityOrRunner?: unknown, alias?: string, queryRunner?: QueryRunner) => {
      const registry = this.#registry;
      // A builder TypeORM makes for a tenant operation (relation ids, relation loads) on the operation's runner.
      const runner = queryRunner ?? (isQueryRunner(entityOrRunner) ? entityOrRunner : undefined);
      const running = registry ? scopeOfRunner(runner) : undefined;
      const operation = running?.registry === registry ? running : undefined;
      const bound = !operation && routed && options.defaultManager !== 'unscoped' ? this.#context.getStore() : undefined;
      // A builder on a runner of the main DataSource (runner.manager, the tenant catalog) stays on the main DataSource.
      if (bound && queryRunner === undefined && !isQueryRunner(entityOrRunner)) return markContextual(bound.createQueryBuilder(entityOrRunner as EntityTarget<ObjectLiteral>, alias as string));
      const qb = (original as (...a: unknown[]) => ReturnType<DataSource['createQueryBuilder']>)(entityOrRunner, alias, queryRunner);
      // In 'context' mode, the tenant bound by run(); a runner of the DataSource's own (createQueryRunner(),
      // the tenant catalog, migrations) is plain TypeORM, and so are the builders made on it.
      const contextual = registry && !operation && !runner && options.defaultManager !== 'unscoped' ? registry.contextScope() : undefined;
      if (operation) return withScope(qb, operation);
      return contextual ? markContextual(withScope(qb, contextual)) : qb;
    }) as DataSource['createQueryBuilder']);
    if ((options.defaultManager ?? 'context') === 'context') {
      const contextual = new ContextEntityManager(dataSource, () => this.#registry);
      replaceDefaultManager(dataSource, routed ? contextRoutedManager(contextual, () => this.#context.getStore()) : contextual);
    } else if (options.defaultManager !== 'unscoped') {
      throw new TenancyConfigError(`defaultManager must be 'context' or 'unscoped', not ${JSON.stringify(options.defaultManager)}.`, {
        operation: 'new Tenancy',
      });
    }
    aroundInitialize(
      dataSource,
      () => {
        this.#metadataArgs = this.#prepareSchema();
      },
      () => this.#buildRegistry(),
    );
    buildMetadataFrom(dataSource, () => this.#metadataArgs ?? this.#prepareSchema());
  }

  #preparedStatementNames(): PreparedStatementNames | undefined {
    const prepared = this.options.preparedReferenceChecks;
    if (prepared !== undefined && typeof prepared !== 'boolean') {
      throw new TenancyConfigError(`preparedReferenceChecks must be true or false, not ${JSON.stringify(prepared)}.`, { operation: 'new Tenancy' });
    }
    // Only the row strategy on one database folds reference checks into inserts (folded-reference-check.ts).
    const folds = (this.options.strategy ?? 'row') === 'row' && !this.options.shards;
    return prepared !== false && folds && this.dataSource.options.type === 'postgres' ? new PreparedStatementNames() : undefined;
  }

  #createStrategy(): StorageStrategy {
    const strategy = this.options.strategy ?? 'row';
    // Policies are installed on the main DataSource's tables: tenant schemas, databases and shards would go without.
    if (this.options.rowLevelSecurity && (strategy !== 'row' || this.options.shards)) {
      throw new TenancyConfigError(
        `rowLevelSecurity protects the row strategy on one database; it is not applied to ${this.options.shards ? 'shards' : `strategy '${String(strategy)}'`}. ` +
          'Drop rowLevelSecurity, or use the row strategy.',
        { operation: 'new Tenancy' },
      );
    }
    const attach = (dataSource: DataSource) => {
      // The tenant's storage audits bypasses like the main DataSource does.
      const { compositeKeys, onBypass, logger } = this.options;
      // Routed storage never folds a reference check into an insert: nothing to send as a named statement.
      const inner = new Tenancy(dataSource, { defaultManager: 'unscoped', compositeKeys, onBypass, logger, preparedReferenceChecks: false });
      inner.#routedStorage = true;
      return { dataSource, manager: (tenantId: TenantId) => inner.manager(tenantId) };
    };
    const tenantTarget = () => this.#requireRegistry('tenants').tenantKey.column.entityMetadata.target as Function;
    if (strategy === 'row' && this.options.shards) {
      if (typeof this.options.shardOf !== 'function' || Object.keys(this.options.shards).length === 0) {
        throw new TenancyConfigError('shards needs at least one shard and a shardOf(tenantId) function that names one.', { operation: 'new Tenancy' });
      }
      return new ShardStrategy(this.dataSource, { shards: this.options.shards, shardOf: this.options.shardOf }, attach, tenantTarget);
    }
    if (strategy === 'row') return rowStrategy;
    if (strategy === 'database') {
      if (typeof this.options.database?.dataSourceOptions !== 'function') {
        throw new TenancyConfigError("strategy 'database' needs database: { dataSourceOptions: (tenantId) => DataSourceOptions }.", { operation: 'new Tenancy' });
      }
      // The catalog looks the tenant up on a runner of the main DataSource, whatever run() binds.
      return new DatabaseStrategy(this.dataSource, this.options.database, attach, tenantTarget, (tenantId) => this.tenants.exists(tenantId));
    }
    if (strategy !== 'schema') {
      throw new TenancyConfigError(`strategy must be 'row', 'schema' or 'database', not ${JSON.stringify(strategy)}.`, { operation: 'new Tenancy' });
    }
    if (this.dataSource.options.type !== 'postgres') {
      throw new TenancyConfigError(
        `strategy 'schema' needs PostgreSQL, but this DataSource uses the ${this.dataSource.options.type} driver. Use strategy 'row' (or one database per tenant).`,
        { operation: 'new Tenancy' },
      );
    }
    return new SchemaStrategy(this.dataSource, this.options.schema ?? {}, () => this.#requireRegistry('schema strategy'));
  }

  #prepareSchema(): MetadataArgsStorage {
    return prepareTenantSchema(this.dataSource, this.options.compositeKeys ?? defaultCompositeKeys);
  }

  /** Before initialize(): the scoped entities and the tenant table from metadata built without connecting (rls.statements()). */
  #offlinePolicyTables(): PolicyTables {
    const metadatas = buildEntityMetadatasOffline(
      this.dataSource,
      (paths) => {
        throw new TenancyConfigError(
          `Entity paths (${paths.join(', ')}) cannot be loaded without initialize(). List the entity classes in the DataSource options.`,
          { operation: 'tenancy.rls' },
        );
      },
      this.#prepareSchema(),
    );
    const { scoped, tenantMetadata, keyColumn } = collectScopedEntities(metadatas);
    return { scoped, tenantTable: { metadata: tenantMetadata, column: keyColumn, tenantTable: true } };
  }

  /** The tables the policies cover: the registry's after initialize(), else built offline. */
  #policyTables(): PolicyTables {
    const registry = this.#registry;
    if (!registry) return this.#offlinePolicyTables();
    return { scoped: registry.scopedEntities, tenantTable: registry.rowScope(registry.tenantKey.column.entityMetadata)! };
  }

  #buildRegistry(): Promise<void> | void {
    const ds = this.dataSource;
    const { tenantMetadata, keyColumn, scoped } = collectScopedEntities(ds.entityMetadatas);
    const tenantKey = { kind: tenantKeyKind(keyColumn), column: keyColumn, entityName: tenantMetadata.name };
    this.#registry = new ScopeRegistry(
      ds,
      tenantKey,
      scoped,
      (runner, scope) => new TenantEntityManager(ds, runner, scope),
      () => this.#context.getStore()?.scope,
      this.#rowLevelSecurity,
      this.#strategy instanceof SchemaStrategy ? this.#strategy : undefined,
      this.#routedStorage,
    );
    this.#registry.statementNames = this.#statementNames;
    this.#registry.audit = new TenancyAudit(this.options.onBypass, this.options.logger === 'typeorm' ? typeormLogger(ds) : this.options.logger);
    this.#loader.registry = this.#registry;
    // TypeORM's database result cache reads and writes its own table on the operation's runner: as plain TypeORM.
    wrapQueryResultCache(ds, plainRunnerView);
    const own = (subscriber: EntitySubscriberInterface) => {
      this.#registry!.ownSubscribers.add(subscriber);
      ds.subscribers.push(subscriber);
    };
    own(scopeSubscriber(this.#registry));
    if (this.#registry.bindsTransactions) {
      own(transactionBindingSubscriber(this.#registry));
      // Every statement on a bound connection is vetted: nothing may change the binding, the role or session state.
      own(rawSqlGuardSubscriber((runner) => bindingOf(runner) !== undefined, (runner) => bindingOf(runner)?.replace(/^[a-z]+:/, '')));
    }
    // Errors of the pooled connections are kept, so an error that only says "released" can name its cause.
    watchDataSourceConnections(ds);
    if (this.#strategy instanceof SchemaStrategy || this.#rowLevelSecurity?.verifyOnStartup) return this.#afterInitialize();
  }

  async #afterInitialize(): Promise<void> {
    if (this.#strategy instanceof SchemaStrategy) {
      for (const { metadata } of this.#registry!.scopedEntities) {
        if (metadata.schema && metadata.schema !== this.dataSource.driver.schema) {
          throw new TenancyConfigError(`Entity ${metadata.name} names its own schema "${metadata.schema}"; with strategy 'schema' scoped entities must not.`, {
            entity: metadata.name,
          });
        }
      }
      await this.#strategy.initialize();
    }
    if (this.#rowLevelSecurity?.verifyOnStartup) await this.#verifyOnStartup();
  }

  async #verifyOnStartup(): Promise<void> {
    const report = await this.rls.verify();
    if (!report.ok) {
      await this.dataSource.destroy();
      throw new TenancyConfigError(
        `Row-level security is not in place (verifyOnStartup): ${report.problems.map((p) => p.message).join(' ')} ` +
          'Install the policies (tenancy.rls.install() or its migration) and connect as a NOSUPERUSER NOBYPASSRLS role.',
        { operation: 'initialize' },
      );
    }
  }

  /**
   * The PostgreSQL row-level-security policies of this DataSource: `statements()`,
   * `install()`, `verify()`, `migration()`. Needs `rowLevelSecurity` in the options.
   */
  get rls(): RowLevelSecurity {
    const options = this.#rowLevelSecurity;
    if (!options) {
      throw new TenancyConfigError('tenancy.rls needs new Tenancy(dataSource, { rowLevelSecurity: true }) on PostgreSQL.', { operation: 'tenancy.rls' });
    }
    this.#rls ??= new RowLevelSecurity(() => this.#requireRegistry('tenancy.rls'), options, () => this.#policyTables());
    return this.#rls;
  }

  /**
   * Checks tenant safety of the schema: unique constraints on scoped tables that
   * do not include the tenant column (from the metadata), on SQLite foreign keys
   * turned off on the connection while composite tenant keys rely on them, on PostgreSQL
   * BEFORE INSERT row triggers (partitions too), INSERT rules and views in place of scoped tables, on SQLite
   * triggers and views (`'tenant-trigger'`), tenant columns the database lets be NULL (`'tenant-nullable'`), SQLite tables with ON CONFLICT REPLACE (`'conflict-replace'`), and, with
   * `rowLevelSecurity`, everything `tenancy.rls.verify()` checks in the database.
   */
  async verify(): Promise<{ ok: boolean; problems: Array<KeyProblem | RowLevelSecurityProblem> }> {
    const registry = this.#requireRegistry('tenancy.verify()');
    const problems: Array<KeyProblem | RowLevelSecurityProblem> = [
      ...verifyTenantKeys(registry),
      ...(await verifySqliteForeignKeys(this.dataSource, registry)),
      ...(await verifyFoldBlockers(this.dataSource, registry)),
    ];
    if (this.#rowLevelSecurity) problems.push(...(await this.rls.verify()).problems);
    return { ok: problems.length === 0, problems };
  }

  /**
   * The Citus distribution DDL for this schema: reference tables for shared
   * entities, `create_distributed_table(..., 'tenant_id', colocate_with => ...)` for
   * scoped ones. Pair with `compositeKeys: 'primary'`.
   */
  citusPlan(): CitusPlan {
    return citusPlan(this.#requireRegistry('tenancy.citusPlan()'));
  }

  /**
   * Creating, listing and removing tenants: `create()` inserts the tenant row and
   * builds its storage (schema strategy: schema and tables) in one transaction.
   */
  get tenants(): TenantCatalog {
    this.#catalog ??= new TenantCatalog(this.dataSource, this.#strategy, () => this.#requireRegistry('tenancy.tenants').tenantKey);
    return this.#catalog;
  }

  /**
   * Brings every tenant's storage up to date — schema strategy: each tenant schema,
   * by its tenant migrations or by synchronizing its tables — with progress, one
   * tenant's failure isolated from the others, and a summary. Shards: each shard (all
   * its tenants at once), reported in `summary.shards`; `succeeded` and `failed` list the
   * tenants of the shards that succeeded or failed. Row strategy: runs the
   * DataSource's migrations once (one shared set of tables).
   */
  async migrateAll(options: MigrateAllOptions = {}): Promise<MigrationSummary> {
    this.#requireRegistry('tenancy.migrateAll()');
    const strategy = this.#strategy;
    if (strategy instanceof ShardStrategy) {
      return forEachShard(strategy.shardNames, (shard) => strategy.migrateShard(shard), () => this.tenants.ids(), (tenant) => strategy.shardOf(tenant), options);
    }
    if (!strategy.migrate) {
      await this.dataSource.runMigrations();
      return { total: 0, succeeded: [], failed: [] };
    }
    return forEachTenant(await this.tenants.ids(), (tenant) => strategy.migrate!(tenant), options);
  }

  /** @internal For tests and integrations inside this package. */
  get scopeRegistry(): ScopeRegistry {
    return this.#requireRegistry('scopeRegistry');
  }

  #requireRegistry(operation: string): ScopeRegistry {
    if (!this.#registry) {
      throw new TenancyConfigError(`${operation} needs an initialized DataSource. Await dataSource.initialize() first.`, { operation });
    }
    return this.#registry;
  }

  /**
   * A `TenantEntityManager` for a tenant id or tenant entity. Cheap: no query,
   * no connection. A missing or malformed tenant is a `MissingTenantError`.
   */
  manager(tenant: TenantRef): TenantEntityManager {
    const registry = this.#requireRegistry('tenancy.manager()');
    const tenantId = resolveTenantId(tenant, registry.tenantKey, 'tenancy.manager()');
    const scope: ScopeContext = { registry, tenantId, safe: true };
    const manager = new TenantEntityManager(this.dataSource, undefined, scope);
    const strategy = this.#strategy;
    return strategy instanceof DatabaseStrategy || strategy instanceof ShardStrategy ? routedManager(manager, tenantId, strategy) : manager;
  }

  /**
   * Opens the tenant's DataSource now (database strategy, shards), so synchronous
   * calls such as `createQueryBuilder` work on its manager. A no-op otherwise.
   */
  async open(tenant: TenantRef): Promise<void> {
    const tenantId = resolveTenantId(tenant, this.#requireRegistry('tenancy.open()').tenantKey, 'tenancy.open()');
    const strategy = this.#strategy;
    if (strategy instanceof DatabaseStrategy || strategy instanceof ShardStrategy) await strategy.use(tenantId, async () => undefined);
  }

  /** Closes every DataSource this Tenancy opened (tenant databases, shards). The main DataSource stays yours. */
  async destroy(): Promise<void> {
    const strategy = this.#strategy;
    if (strategy instanceof DatabaseStrategy || strategy instanceof ShardStrategy) await strategy.pool.destroy();
  }

  /** Runs `fn` with the tenant bound for everything it awaits; `current()` returns its manager there. */
  run<T>(tenant: TenantRef, fn: () => T): T {
    return this.#context.run(this.manager(tenant), fn);
  }

  /** The manager of the tenant bound by `run()`; `MissingTenantError` outside of one. */
  current(): TenantEntityManager {
    const manager = this.#context.getStore();
    if (!manager) {
      throw new MissingTenantError('tenancy.current() was called outside tenancy.run(). Bind a tenant with tenancy.run(tenantId, fn) first.', {
        operation: 'current',
      });
    }
    return manager;
  }
}
