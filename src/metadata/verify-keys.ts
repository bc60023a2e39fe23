import type { ScopeRegistry } from '../scoping/scope-registry.js';

/**
 * A key problem: a unique constraint on a scoped table that does not include the tenant column
 * (`'global-unique'`), SQLite foreign keys off on the DataSource's connection while the schema
 * has composite tenant keys (`'foreign-keys-off'`), or something that could let a row whose tenant
 * column the in-statement reference check left NULL through, so that the table's inserts take a
 * separate check: on PostgreSQL a BEFORE INSERT row trigger (on the table or a partition), an INSERT
 * rule, a view or foreign table in place of a scoped table; on SQLite any trigger on it, or a view
 * (`'tenant-trigger'`); a tenant column the database lets be NULL, or on SQLite replace or drop a NULL (`'tenant-nullable'`);
 * a SQLite table with ON CONFLICT REPLACE, whose writes through a tenant manager are refused (`'conflict-replace'`).
 */
export interface KeyProblem {
  readonly kind: 'global-unique' | 'foreign-keys-off' | 'tenant-trigger' | 'tenant-nullable' | 'conflict-replace';
  /**
   * `table(columns)`; for `'foreign-keys-off'` the tables whose composite keys go unchecked; for `'tenant-trigger'`
   * `table(trigger)`, `table(trigger on partition)`, `table(rule)`, `table(view)` or `table(relkind f)`; for `'tenant-nullable'` `table(column)` or `table(ON CONFLICT)`; for `'conflict-replace'` `table(ON CONFLICT REPLACE)`.
   */
  readonly subject: string;
  readonly message: string;
}

/**
 * Unique constraints and unique indices of scoped tables must include the tenant
 * column: a global one makes two tenants collide, and the collision tells one
 * tenant that the other has that value. (The single-column primary key is the
 * row's identity and is not reported.)
 */
export function verifyTenantKeys(registry: ScopeRegistry): KeyProblem[] {
  const problems: KeyProblem[] = [];
  for (const { metadata, column } of registry.scopedEntities) {
    const uniques = [
      ...metadata.uniques.map((u) => u.columns),
      ...metadata.indices.filter((i) => i.isUnique).map((i) => i.columns),
    ];
    for (const columns of uniques) {
      if (columns.includes(column)) continue;
      const names = columns.map((c) => c.databaseName).join(', ');
      problems.push({
        kind: 'global-unique',
        subject: `${metadata.tableName}(${names})`,
        message: `${metadata.name}: UNIQUE (${names}) does not include ${column.databaseName}, so tenants collide on it. Use @TenantUnique([...]) instead.`,
      });
    }
  }
  return problems;
}
