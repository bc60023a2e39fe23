import type { DataSource, ObjectLiteral, QueryRunner } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { TenantId } from '../scoping/tenant-key.js';

/** A row as the driver returns it, keyed by database column name. */
export type RawRow = Record<string, unknown>;

type Run = (sql: string, parameters?: ObjectLiteral) => Promise<RawRow[]>;

/**
 * The probes' own view of the database: plain SQL on a query runner, never a
 * tenant manager, so a check cannot be fooled by the code it checks. With
 * row-level security each statement runs in a transaction bound to the tenant
 * whose rows it reads or writes (the policies hide every other row).
 */
export class RawAccess {
  constructor(
    readonly dataSource: DataSource,
    readonly rlsSetting: string | undefined,
  ) {}

  table(metadata: EntityMetadata): string {
    return metadata.tablePath
      .split('.')
      .map((part) => this.dataSource.driver.escape(part))
      .join('.');
  }

  column(column: ColumnMetadata | string): string {
    return this.dataSource.driver.escape(typeof column === 'string' ? column : column.databaseName);
  }

  /** Runs `fn` on a fresh runner; under RLS inside a transaction bound to `tenant` (none: no tenant's rows). */
  async run<T>(tenant: TenantId | undefined, fn: (run: Run) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    const run: Run = async (sql, parameters = {}) => {
      const [text, values] = this.dataSource.driver.escapeQueryWithParameters(sql, parameters);
      const result: unknown = await runner.query(text, values);
      return Array.isArray(result) ? (result as RawRow[]) : [];
    };
    try {
      if (!this.rlsSetting) return await fn(run);
      return await this.#bound(runner, tenant, () => fn(run));
    } finally {
      await runner.release();
    }
  }

  async #bound<T>(runner: QueryRunner, tenant: TenantId | undefined, fn: () => Promise<T>): Promise<T> {
    await runner.startTransaction();
    try {
      if (tenant !== undefined) await runner.query('SELECT set_config($1, $2, true)', [this.rlsSetting, String(tenant)]);
      const result = await fn();
      await runner.commitTransaction();
      return result;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    }
  }

  /** Every row of `tenant` in the entity's table, in primary key order. */
  rowsOf(metadata: EntityMetadata, tenantColumn: ColumnMetadata, tenant: TenantId): Promise<RawRow[]> {
    const order = metadata.primaryColumns.map((c) => this.column(c)).join(', ');
    return this.run(tenant, (run) =>
      run(`SELECT * FROM ${this.table(metadata)} WHERE ${this.column(tenantColumn)} = :tenant ORDER BY ${order}`, { tenant }),
    );
  }

  /** The current state of one row, found by its primary key (as `tenant` sees it under RLS). */
  async rowByKey(metadata: EntityMetadata, row: RawRow, tenant: TenantId | undefined): Promise<RawRow | undefined> {
    const { clause, parameters } = this.keyClause(metadata, row);
    const rows = await this.run(tenant, (run) => run(`SELECT * FROM ${this.table(metadata)} WHERE ${clause}`, parameters));
    return rows[0];
  }

  /** Sets columns of one row (by primary key). */
  async update(metadata: EntityMetadata, row: RawRow, values: Record<string, unknown>, tenant: TenantId | undefined): Promise<void> {
    const { clause, parameters } = this.keyClause(metadata, row);
    const set = Object.keys(values).map((name, i) => `${this.column(name)} = :set${i}`);
    Object.values(values).forEach((value, i) => (parameters[`set${i}`] = value));
    await this.run(tenant, (run) => run(`UPDATE ${this.table(metadata)} SET ${set.join(', ')} WHERE ${clause}`, parameters));
  }

  async insert(metadata: EntityMetadata, values: Record<string, unknown>, tenant: TenantId | undefined): Promise<void> {
    const names = Object.keys(values);
    const parameters = Object.fromEntries(Object.values(values).map((value, i) => [`v${i}`, value]));
    await this.run(tenant, (run) =>
      run(`INSERT INTO ${this.table(metadata)} (${names.map((n) => this.column(n)).join(', ')}) VALUES (${names.map((_, i) => `:v${i}`).join(', ')})`, parameters),
    );
  }

  /** Deletes rows matching every given column value. */
  async deleteWhere(metadata: EntityMetadata, values: Record<string, unknown>, tenant: TenantId | undefined): Promise<void> {
    const names = Object.keys(values);
    const parameters = Object.fromEntries(Object.values(values).map((value, i) => [`w${i}`, value]));
    const clause = names.map((n, i) => `${this.column(n)} = :w${i}`).join(' AND ');
    await this.run(tenant, (run) => run(`DELETE FROM ${this.table(metadata)} WHERE ${clause}`, parameters));
  }

  keyClause(metadata: EntityMetadata, row: RawRow): { clause: string; parameters: ObjectLiteral } {
    const parameters: ObjectLiteral = {};
    const clause = metadata.primaryColumns
      .map((c, i) => {
        parameters[`k${i}`] = row[c.databaseName];
        return `${this.column(c)} = :k${i}`;
      })
      .join(' AND ');
    return { clause, parameters };
  }
}
