import type { MigrationInterface, QueryRunner } from 'typeorm';
import type { ScopeRegistry } from '../scoping/scope-registry.js';
import { inOwnTransaction } from '../strategies/in-transaction.js';
import { policyStatements, type RowLevelSecurityStatements } from './policy-sql.js';
import type { ResolvedRowLevelSecurity } from './rls-options.js';
import { type RowLevelSecurityReport, verifyRowLevelSecurity } from './rls-verify.js';
import { createBypassRunner } from './bypass-login.js';

/**
 * `tenancy.rls`: the PostgreSQL row-level-security policies generated from the
 * same metadata as the app-side filter.
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
  readonly options: ResolvedRowLevelSecurity;

  /** @internal */
  constructor(registry: () => ScopeRegistry, options: ResolvedRowLevelSecurity) {
    this.#registry = registry;
    this.options = options;
  }

  /** The DDL that installs (`up`) and removes (`down`) the policies. */
  statements(): RowLevelSecurityStatements {
    const registry = this.#registry();
    return policyStatements(registry.scopedEntities, this.options, registry.rowScope(registry.tenantKey.column.entityMetadata));
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
   */
  migration(name = 'TenancyRowLevelSecurity1700000000000'): new () => MigrationInterface {
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
