import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { ScopedEntity } from '../scoping/scope-registry.js';
import type { ResolvedRowLevelSecurity } from './rls-options.js';

// All PostgreSQL text of the row-level-security mode lives here.

const setConfigTexts: string[] = [];

/** The binding of a tenant statement or transaction: transaction-local settings, parameterized. */
export function setConfigSql(count: number): string {
  // Sent with every bound statement (fusing-client.ts): built once per number of settings.
  let sql = setConfigTexts[count];
  if (sql === undefined) {
    sql = `SELECT ${Array.from({ length: count }, (_, i) => `set_config($${2 * i + 1}, $${2 * i + 2}, true)`).join(', ')}`;
    setConfigTexts[count] = sql;
  }
  return sql;
}

/** Identifier quoting for names that come from metadata or validated options. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function qualifiedTable(metadata: EntityMetadata): string {
  return metadata.schema ? `${quoteIdentifier(metadata.schema)}.${quoteIdentifier(metadata.tableName)}` : quoteIdentifier(metadata.tableName);
}

/**
 * The policy predicate: the tenant column compared to the setting cast to the
 * column's own type (never the column cast to text, which would bypass its index).
 * After a transaction-local set_config commits, a pooled connection reads the
 * setting as '' rather than NULL, hence NULLIF: both mean "no tenant", no rows.
 */
export function policyPredicate(scoped: ScopedEntity, rls: ResolvedRowLevelSecurity): string {
  const type = scoped.metadata.dataSource.driver.normalizeType(scoped.column);
  return `${quoteIdentifier(scoped.column.databaseName)} = NULLIF(current_setting('${rls.setting}', true), '')::${type}`;
}

/** True when the transaction is bound to no tenant (an administrator's or the tenant catalog's connection). */
export function unboundPredicate(rls: ResolvedRowLevelSecurity): string {
  return `NULLIF(current_setting('${rls.setting}', true), '') IS NULL`;
}

/**
 * The tenant table's policies (rule 9 in the database): a transaction bound to a tenant sees and
 * updates only that tenant's row and can neither insert nor delete tenant rows; an unbound one
 * (the tenant catalog, migrations, an administrator) keeps the whole table.
 */
export function tenantTablePolicies(tenantTable: ScopedEntity, rls: ResolvedRowLevelSecurity): { rows: string; changes: string } {
  return { rows: `(${unboundPredicate(rls)}) OR (${policyPredicate(tenantTable, rls)})`, changes: unboundPredicate(rls) };
}

export interface RowLevelSecurityStatements {
  /** Enables, forces and (re)creates the policy on every scoped table; idempotent. */
  readonly up: string[];
  /** Removes what `up` created. */
  readonly down: string[];
}

export function policyStatements(scopedEntities: Iterable<ScopedEntity>, rls: ResolvedRowLevelSecurity, tenantTable?: ScopedEntity): RowLevelSecurityStatements {
  const up: string[] = [];
  const down: string[] = [];
  const policy = quoteIdentifier(rls.policyName);
  const tables = new Map<string, ScopedEntity>();
  // STI children share their parent's table: one policy per table.
  for (const scoped of scopedEntities) tables.set(qualifiedTable(scoped.metadata), tables.get(qualifiedTable(scoped.metadata)) ?? scoped);
  for (const [table, scoped] of [...tables].sort(([a], [b]) => a.localeCompare(b))) {
    const predicate = policyPredicate(scoped, rls);
    up.push(
      `ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`,
      `ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`,
      `DROP POLICY IF EXISTS ${policy} ON ${table}`,
      `CREATE POLICY ${policy} ON ${table} USING (${predicate}) WITH CHECK (${predicate})`,
    );
    down.push(
      `DROP POLICY IF EXISTS ${policy} ON ${table}`,
      `ALTER TABLE ${table} NO FORCE ROW LEVEL SECURITY`,
      `ALTER TABLE ${table} DISABLE ROW LEVEL SECURITY`,
    );
  }
  if (tenantTable) {
    const table = qualifiedTable(tenantTable.metadata);
    const { rows, changes } = tenantTablePolicies(tenantTable, rls);
    const [inserts, deletes] = [quoteIdentifier(`${rls.policyName}_insert`), quoteIdentifier(`${rls.policyName}_delete`)];
    up.push(
      `ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`,
      `ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`,
      `DROP POLICY IF EXISTS ${policy} ON ${table}`,
      `CREATE POLICY ${policy} ON ${table} USING (${rows}) WITH CHECK (${rows})`,
      `DROP POLICY IF EXISTS ${inserts} ON ${table}`,
      `CREATE POLICY ${inserts} ON ${table} AS RESTRICTIVE FOR INSERT WITH CHECK (${changes})`,
      `DROP POLICY IF EXISTS ${deletes} ON ${table}`,
      `CREATE POLICY ${deletes} ON ${table} AS RESTRICTIVE FOR DELETE USING (${changes})`,
    );
    down.push(
      `DROP POLICY IF EXISTS ${deletes} ON ${table}`,
      `DROP POLICY IF EXISTS ${inserts} ON ${table}`,
      `DROP POLICY IF EXISTS ${policy} ON ${table}`,
      `ALTER TABLE ${table} NO FORCE ROW LEVEL SECURITY`,
      `ALTER TABLE ${table} DISABLE ROW LEVEL SECURITY`,
    );
  }
  return { up, down };
}
