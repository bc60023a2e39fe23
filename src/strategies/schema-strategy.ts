import type { DataSource, MigrationInterface, QueryRunner } from 'typeorm';
import { StorageConflictError } from '../errors.js';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import { TenantMigrationExecutor, TenantSchemaBuilder } from '../internal/typeorm/tenant-schema-builder.js';
import { quoteIdentifier, setConfigSql } from '../postgres/policy-sql.js';
import type { ScopeRegistry, TenantSchemas } from '../scoping/scope-registry.js';
import type { TenantId } from '../scoping/tenant-key.js';
import { defaultSchemaName, validSchemaName } from './schema-names.js';
import type { StorageStrategy } from './storage-strategy.js';
import { inOwnTransaction } from './in-transaction.js';
import { replayable, SchemaSyncPlans } from './schema-sync-plans.js';

/** Options of `strategy: 'schema'` (PostgreSQL). */
export interface SchemaStrategyOptions {
  /**
   * The schema of a tenant; must give each tenant its own (`tenants.create()` refuses a schema
   * that exists: `StorageConflictError`). Defaults to `defaultSchemaName`: `tenant_<id>` for
   * integer and lower-case uuid keys, with a hash of the key appended for other keys.
   */
  schemaName?: (tenantId: TenantId) => string;
  /**
   * Migrations that build and evolve one tenant's tables, run in each tenant schema
   * (`search_path` = tenant schema first). Without them, tenant tables are synchronized
   * from the metadata. The DataSource's own `migrations` stay for the shared tables.
   */
  tenantMigrations?: Array<new () => MigrationInterface>;
}

/**
 * Schema per tenant: each tenant's scoped tables live in its own schema (shared
 * entities stay in the default schema). Every tenant operation runs in a
 * transaction whose `search_path` starts with the tenant schema — set with
 * `set_config('search_path', $1, true)`, transaction-local, never on the session.
 * The scoped tables of the default schema stay empty: a connection with no
 * binding reads those, so it sees no tenant's rows.
 */
export class SchemaStrategy implements StorageStrategy, TenantSchemas {
  readonly kind = 'schema';
  readonly #dataSource: DataSource;
  readonly #options: SchemaStrategyOptions;
  readonly #registry: () => ScopeRegistry;
  #defaultSearchPath = 'public';

  constructor(dataSource: DataSource, options: SchemaStrategyOptions, registry: () => ScopeRegistry) {
    this.#dataSource = dataSource;
    this.#options = options;
    this.#registry = registry;
  }

  /** Reads the server's search_path once, so tenant paths keep the shared schema behind the tenant's. */
  async initialize(): Promise<void> {
    const [row] = (await this.#dataSource.query(`SELECT current_setting('search_path') AS path`)) as Array<{ path: string }>;
    this.#defaultSearchPath = row?.path || 'public';
  }

  schemaOf(tenantId: TenantId): string {
    return validSchemaName((this.#options.schemaName ?? defaultSchemaName)(tenantId), tenantId);
  }

  searchPath(tenantId: TenantId): string {
    return `${quoteIdentifier(this.schemaOf(tenantId))}, ${this.#defaultSearchPath}`;
  }

  /**
   * Adding foreign keys to the shared tables locks them (SHARE ROW EXCLUSIVE); two
   * tenants created at once would deadlock on those locks. Taking them first, in one
   * order, makes concurrent creates wait for each other instead.
   */
  async prepare(runner: QueryRunner): Promise<void> {
    const tenantTables = this.#tenantTables();
    const tenantTable = this.#tenantTable();
    const shared = new Set<string>();
    for (const m of tenantTables) {
      for (const fk of m.foreignKeys) {
        const target = fk.referencedEntityMetadata;
        if (!tenantTables.includes(target) && target !== tenantTable) shared.add(target.tablePath);
      }
    }
    if (shared.size) await runner.query(`LOCK TABLE ${[...shared].sort().map(quoteIdentifier).join(', ')} IN SHARE ROW EXCLUSIVE MODE`);
  }

  async provision(tenantId: TenantId, runner: QueryRunner): Promise<void> {
    const schema = this.schemaOf(tenantId);
    // A schema that exists belongs to another tenant (a schemaName that maps two tenants to one) or is a leftover.
    await runner.query(`CREATE SCHEMA ${quoteIdentifier(schema)}`).catch((error: unknown) => {
      const code = (error as { driverError?: { code?: unknown } }).driverError?.code;
      if (code !== '42P06') throw error;
      throw new StorageConflictError(
        `tenants.create() refused tenant ${JSON.stringify(tenantId)}: schema "${schema}" already exists (another tenant's, or a leftover). ` +
          'Give each tenant its own schema (schemaName), or drop the leftover schema.',
        { operation: 'tenants.create()', tenant: tenantId, cause: error },
      );
    });
    if (this.#options.tenantMigrations) return this.#build(tenantId, runner);
    await runner.query(setConfigSql(1), ['search_path', this.searchPath(tenantId)]);
    // A new schema is empty, so its DDL is the same for every tenant: plan it once, replay it
    // (unqualified names resolve through search_path). A plan that still names the schema is not reused.
    let plan = this.#freshSchemaPlan;
    if (!plan) {
      const planned = await this.#builder(tenantId).syncOn(runner, true);
      if (!planned) return this.#builder(tenantId).syncOn(runner); // parameters: not replayable as text
      plan = replayable(planned, schema);
      if (plan) this.#freshSchemaPlan = plan;
      else plan = planned;
    }
    // One round trip: the plan holds no parameters, so it can go as one multi-statement query.
    if (plan.length) await runner.query(plan.join(';\n'));
  }

  #freshSchemaPlan: string[] | undefined;
  readonly #syncPlans = new SchemaSyncPlans();

  async drop(tenantId: TenantId, runner: QueryRunner): Promise<void> {
    await runner.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(this.schemaOf(tenantId))} CASCADE`);
  }

  migrate(tenantId: TenantId): Promise<void> {
    return inOwnTransaction(this.#dataSource, (runner) => this.#build(tenantId, runner));
  }

  /** Creates or updates the tenant's tables, inside the caller's transaction. */
  async #build(tenantId: TenantId, runner: QueryRunner): Promise<void> {
    await runner.query(setConfigSql(1), ['search_path', this.searchPath(tenantId)]);
    const migrations = this.#options.tenantMigrations;
    if (migrations) {
      await new TenantMigrationExecutor(this.#dataSource, runner, migrations.map((M) => new M()), this.schemaOf(tenantId)).executePendingMigrations();
      return;
    }
    const tables = this.#tenantTables().filter((m) => m.synchronize && m.tableType !== 'entity-child');
    // Generated columns are described in TypeORM's typeorm_metadata table, which the fingerprint does not read.
    if (tables.some((m) => m.columns.some((c) => c.generatedType))) return this.#builder(tenantId).syncOn(runner);
    const names = tables.map((m) => m.tableName);
    await this.#syncPlans.sync(runner, this.schemaOf(tenantId), names, () => this.#builder(tenantId));
  }

  #builder(tenantId: TenantId): TenantSchemaBuilder {
    const tables = this.#tenantTables();
    const names = new Set(tables.map((m) => m.tableName));
    return new TenantSchemaBuilder(this.#dataSource, tables, this.schemaOf(tenantId), (name) => names.has(name), this.#tenantTable());
  }

  /**
   * The tenant table: tenant schemas get no foreign key to it. Each such key puts two
   * triggers on the tenant table — 40,000 at 10,000 tenants with two scoped tables — so
   * adding one more slows with every tenant, and deleting a tenant row fires them all and
   * locks every tenant's table (beyond max_locks_per_transaction). A schema belongs to
   * its tenant; `tenants.remove()` drops it with the row.
   */
  #tenantTable(): EntityMetadata {
    return this.#registry().tenantKey.column.entityMetadata;
  }

  /** Scoped tables and the junction / closure tables that join them live in each tenant schema. */
  #tenantTables(): EntityMetadata[] {
    const registry = this.#registry();
    return this.#dataSource.entityMetadatas.filter(
      (m) =>
        !!registry.scopedEntity(m) ||
        ((m.tableType === 'junction' || m.tableType === 'closure-junction') && m.foreignKeys.some((fk) => !!registry.scopedEntity(fk.referencedEntityMetadata))),
    );
  }
}
