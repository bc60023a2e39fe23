import type { MigrationInterface, QueryRunner } from 'typeorm';
import type { ScopedEntity, ScopeRegistry } from '../scoping/scope-registry.js';
import { inOwnTransaction } from '../strategies/in-transaction.js';
import { policyStatements, type RowLevelSecurityStatements } from './policy-sql.js';
import type { ResolvedRowLevelSecurity } from './rls-options.js';
import { type RowLevelSecurityReport, verifyRowLevelSecurity } from './rls-verify.js';
import { createBypassRunner } from './bypass-login.js';

/** What the policies cover: every tenant-scoped table, and the tenant table (scoped by its own key). */
export interface PolicyTables {
  readonly scoped: Iterable<ScopedEntity>;
  readonly tenantTable: ScopedEntity;
}

/**
 * `tenancy.rls`: the PostgreSQL row-level-security policies generated from the
 * same metadata as the app-side filter. `statements()`, `migration()` and
 * `migrationSource()` need no connection: before `initialize()` they build the
 * metadata without connecting, so CI can emit the DDL offline.
 *
 * @example
 * const tenancy = new Tenancy(dataSource, { rowLevelSecurity: { bypassLogin: { username: 'tenancy_bypass', password } } });
 * await dataSource.initialize();
 * tenancy.rls.statements().up;
 * // ALTER TABLE "posts" ENABLE ROW LEVEL SECURITY
 * // ALTER TABLE "posts" FORCE ROW LEVEL SECURITY
 * // DROP POLICY IF EXISTS "tenancy_isolation" ON "posts"
 * // CREATE POLICY "tenancy_isolation" ON "posts" USING ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')::integer) WITH CHECK (...)
 */
export class RowLevelSecurity {
  readonly #registry: () => ScopeRegistry;
  readonly #tables: () => PolicyTables;
  readonly options: ResolvedRowLevelSecurity;

  /** @internal */
  constructor(registry: () => ScopeRegistry, options: ResolvedRowLevelSecurity, tables: () => PolicyTables) {
    this.#registry = registry;
    this.options = options;
    this.#tables = tables;
  }

  /** The DDL that installs (`up`) and removes (`down`) the policies; from the metadata alone, no connection needed. */
  statements(): RowLevelSecurityStatements {
    const { scoped, tenantTable } = this.#tables();
    return policyStatements(scoped, this.options, tenantTable);
  }

  /**
   * Applies `statements().up` in one transaction; idempotent. Needs a role that owns
   * the tables: pass a runner of an admin DataSource when the app role does not.
   */
  async install(queryRunner?: QueryRunner): Promise<void> {
    const apply = async (runner: QueryRunner) => {
      for (const sql of this.statements().up) await runner.query(sql);
    };
    if (!queryRunner) return inOwnTransaction(this.#registry().dataSource, apply);
    await queryRunner.startTransaction();
    try {
      await apply(queryRunner);
      await queryRunner.commitTransaction();
    } catch (error) {
      await queryRunner.rollbackTransaction();
      throw error;
    }
  }

  /**
   * Checks the database: policies present, forced, not drifted, indexed; a connected role
   * they apply to, that cannot switch to a role they do not apply to (membership of the
   * configured `bypassRole` is a warning); a bypass login that connects and is BYPASSRLS.
   */
  async verify(queryRunner?: QueryRunner): Promise<RowLevelSecurityReport> {
    const login = this.options.bypassLogin;
    const bypassRunner = login ? () => createBypassRunner(this.#registry().dataSource, login) : undefined;
    return this.#withRunner(queryRunner, (runner) => verifyRowLevelSecurity(this.#registry(), this.options, runner, bypassRunner));
  }

  /**
   * A TypeORM migration class that installs and removes the policies, computed
   * from the metadata when it runs. For a frozen migration file, use `migrationSource()`.
   *
   * TypeORM runs pending migrations in the order of the timestamp that ends their name. The
   * default name ends in the largest one (`TenancyRowLevelSecurity9999999999999`), so on an
   * empty database this runs after the migrations that create the tables. It runs once: a
   * scoped table added later needs another one (a new name, or a `migrationSource()` file).
   *
   * @example
   * const dataSource = new DataSource({ type: 'postgres', url, entities, migrations: [Schema1712345678901] });
   * const tenancy = new Tenancy(dataSource, { rowLevelSecurity: true });
   * dataSource.setOptions({ migrations: [Schema1712345678901, tenancy.rls.migration()] });
   */
  migration(name = 'TenancyRowLevelSecurity9999999999999'): new () => MigrationInterface {
    const rls = this;
    return class TenancyRowLevelSecurityMigration implements MigrationInterface {
      name = name;
      async up(runner: QueryRunner): Promise<void> {
        for (const sql of rls.statements().up) await runner.query(sql);
      }
      async down(runner: QueryRunner): Promise<void> {
        for (const sql of rls.statements().down) await runner.query(sql);
      }
    };
  }

  /** TypeScript source of a migration with today's statements written out, for `src/migrations/`. */
  migrationSource(className = `TenancyRowLevelSecurity${Date.now()}`): string {
    const { up, down } = this.statements();
    const lines = (statements: string[]) => statements.map((s) => `    await queryRunner.query(${JSON.stringify(s)});`).join('\n');
    return [
      "import type { MigrationInterface, QueryRunner } from 'typeorm';",
      '',
      `export class ${className} implements MigrationInterface {`,
      `  name = ${JSON.stringify(className)};`,
      '',
      '  async up(queryRunner: QueryRunner): Promise<void> {',
      lines(up),
      '  }',
      '',
      '  async down(queryRunner: QueryRunner): Promise<void> {',
      lines(down),
      '  }',
      '}',
      '',
    ].join('\n');
  }

  async #withRunner<T>(given: QueryRunner | undefined, fn: (runner: QueryRunner) => Promise<T>): Promise<T> {
    const runner = given ?? this.#registry().dataSource.createQueryRunner();
    try {
      return await fn(runner);
    } finally {
      if (!given) await runner.release();
    }
  }
}
