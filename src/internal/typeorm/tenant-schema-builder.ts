import type { DataSource, MigrationInterface, QueryRunner } from 'typeorm';
import { MigrationExecutor } from 'typeorm';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import { RdbmsSchemaBuilder } from 'typeorm/schema-builder/RdbmsSchemaBuilder.js';

// TypeORM's schema builder and migration executor, pointed at one tenant schema.
// Overrides protected members checked against typeorm 1.1.1 (test/canary).

/**
 * Synchronizes only the scoped tables, inside one tenant schema, on a runner the
 * caller holds (in its transaction, with `search_path` = tenant schema first).
 * Scoped tables resolve to the tenant schema, shared ones to the default schema,
 * so foreign keys to shared tables point at the shared tables.
 */
export class TenantSchemaBuilder extends RdbmsSchemaBuilder {
  readonly #scoped: EntityMetadata[];
  readonly #tenantSchema: string;
  readonly #isScopedTable: (name: string) => boolean;

  /**
   * `omitForeignKeysTo`: foreign keys to this table are left out of the tenant schema (and
   * dropped where they exist): TypeORM's createForeignKeys and dropOldForeignKeys read
   * `metadata.foreignKeys` of the metadata this builder syncs, so it syncs views of them.
   */
  constructor(dataSource: DataSource, scoped: EntityMetadata[], tenantSchema: string, isScopedTable: (name: string) => boolean, omitForeignKeysTo?: EntityMetadata) {
    super(dataSource);
    this.#scoped = scoped
      .filter((m) => m.synchronize && m.tableType !== 'entity-child')
      .map((m) => {
        const foreignKeys = m.foreignKeys.filter((fk) => fk.referencedEntityMetadata !== omitForeignKeysTo);
        // A view inheriting everything else from the metadata (never a change to TypeORM's object).
        return foreignKeys.length === m.foreignKeys.length ? m : (Object.create(m, { foreignKeys: { value: foreignKeys } }) as EntityMetadata);
      });
    this.#tenantSchema = tenantSchema;
    this.#isScopedTable = isScopedTable;
  }

  protected override get entityToSyncMetadatas(): EntityMetadata[] {
    return this.#scoped;
  }

  protected override get viewEntityToSyncMetadatas(): EntityMetadata[] {
    return [];
  }

  /** Scoped tables live in the tenant schema, shared ones in the default schema. */
  tenantTablePath(target: Parameters<DataSource['driver']['parseTableName']>[0]): string {
    const driver = this.dataSource.driver;
    const parsed = driver.parseTableName(target);
    const schema = parsed.schema && parsed.schema !== driver.schema ? parsed.schema : this.#isScopedTable(parsed.tableName) ? this.#tenantSchema : driver.schema;
    return driver.buildTableName(parsed.tableName, schema, parsed.database);
  }

  /**
   * Applies the differences on `runner` (no transaction of its own), or only returns them with
   * `dryRun` — `undefined` then when a statement carries parameters (it cannot be replayed as text).
   */
  async syncOn(runner: QueryRunner, dryRun: true): Promise<string[] | undefined>;
  async syncOn(runner: QueryRunner, dryRun?: false): Promise<undefined>;
  async syncOn(runner: QueryRunner, dryRun = false): Promise<string[] | undefined> {
    const self = this as unknown as { queryRunner: QueryRunner; currentSchema?: string; tables: unknown[]; executeSchemaSyncOperationsInProperOrder(): Promise<void> };
    self.queryRunner = runner;
    self.currentSchema = this.#tenantSchema;
    self.tables = await runner.getTables(this.entityToSyncMetadatas.map((m) => this.tenantTablePath(m)));
    if (dryRun) runner.enableSqlMemory();
    try {
      await self.executeSchemaSyncOperationsInProperOrder();
      if (!dryRun) return undefined;
      const queries = runner.getMemorySql().upQueries;
      return queries.some((q) => q.parameters?.length) ? undefined : queries.map((q) => q.query);
    } finally {
      if (dryRun) runner.disableSqlMemory();
    }
  }
}

// RdbmsSchemaBuilder#getTablePath is TypeScript-private, so the override is set on
// this subclass's own prototype (never on TypeORM's): every table path the builder
// compares or loads goes through tenantTablePath.
Object.defineProperty(TenantSchemaBuilder.prototype, 'getTablePath', {
  value(this: TenantSchemaBuilder, target: Parameters<TenantSchemaBuilder['tenantTablePath']>[0]) {
    return this.tenantTablePath(target);
  },
});

/**
 * Runs a given list of migrations (the tenant migrations) on a runner, within its
 * open transaction, recording them in the tenant schema's own migrations table.
 */
export class TenantMigrationExecutor extends MigrationExecutor {
  readonly #migrations: MigrationInterface[];

  constructor(dataSource: DataSource, runner: QueryRunner, migrations: MigrationInterface[], tenantSchema: string) {
    super(dataSource, runner);
    this.#migrations = migrations;
    // TypeORM names the table with the DataSource's schema (the default one once connected),
    // so it would look for the table there and then create it again in the tenant schema.
    const self = this as unknown as { migrationsSchema?: string; migrationsTable: string; migrationsTableName: string; migrationsDatabase?: string };
    self.migrationsSchema = tenantSchema;
    self.migrationsTable = dataSource.driver.buildTableName(self.migrationsTableName, tenantSchema, self.migrationsDatabase);
  }

  // TypeORM reads dataSource.migrations here, synchronously: swap in the tenant list for the call.
  protected override getMigrations(): ReturnType<MigrationExecutor['getMigrations']> {
    const dataSource = this.dataSource as unknown as { migrations: MigrationInterface[] };
    const shared = dataSource.migrations;
    dataSource.migrations = this.#migrations;
    try {
      return super.getMigrations();
    } finally {
      dataSource.migrations = shared;
    }
  }
}
