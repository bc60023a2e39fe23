import type { DataSource } from 'typeorm';
import { canFoldReferences } from '../scoping/folded-reference-check.js';
import { foldBlockers } from '../scoping/fold-blockers.js';
import type { ScopeRegistry } from '../scoping/scope-registry.js';
import type { KeyProblem } from './verify-keys.js';

/**
 * A one-row insert checks its references inside the statement: a reference outside the tenant
 * leaves the tenant column NULL, and the database refuses the row (folded-reference-check.ts). What
 * could let that row through (fold-blockers.ts) makes the table take the separate check at run time,
 * decided when the application first inserts into it. Reported here all the same: it costs that
 * table's inserts a statement, and one added while the application runs is not seen until it
 * restarts. `'tenant-trigger'`: on PostgreSQL a row-level BEFORE INSERT trigger (on the table or a
 * partition), an INSERT rule, a view or foreign table in the table's place; on SQLite any trigger on
 * the table, or a view. `'tenant-nullable'`: the database lets the tenant column be NULL, or (SQLite)
 * gives it a default or has an ON CONFLICT clause, so that a NULL could be replaced or dropped silently.
 */
export async function verifyFoldBlockers(dataSource: DataSource, registry: ScopeRegistry): Promise<KeyProblem[]> {
  if (!canFoldReferences(registry)) return [];
  const scoped = [...registry.scopedEntities].filter((s) => !s.tenantTable && !s.column.isNullable);
  const blockers = await foldBlockers(registry, scoped, (sql, parameters) => dataSource.query(sql, parameters), false);
  const consequence =
    'A one-row insert through a tenant manager checks its references inside the statement and relies on the database refusing a NULL tenant column ' +
    "when a reference is not the tenant's, which this could change: inserts into this table take a separate check statement instead " +
    '(decided once per table when the application first inserts into it). ';
  return blockers.map(({ table, name, kind }): KeyProblem => {
    if (kind === 'replace') {
      return {
        kind: 'conflict-replace',
        subject: `${table}(${name})`,
        message:
          `${table} has an ON CONFLICT REPLACE clause: SQLite resolves a conflict on a unique key by deleting the other row, another tenant's too ` +
          "(an insert given another tenant's id or unique value deletes that tenant's row). Inserts, updates and soft deletes of it through a tenant manager " +
          'are refused (UnsafeQueryError). Recreate the table without the clause.',
      };
    }
    if (kind === 'conflict') {
      return {
        kind: 'tenant-nullable',
        subject: `${table}(${name})`,
        message: `${table} has an ON CONFLICT clause in its definition: SQLite may replace or silently drop a row whose tenant column is NULL instead of refusing it. ${consequence}Recreate the table without the clause.`,
      };
    }
    if (kind === 'nullable') {
      return {
        kind: 'tenant-nullable',
        subject: `${table}(${name})`,
        message: `${table}.${name} is nullable in the database (or, on SQLite, has a default), though the entity's tenant column is not: the schema is behind the entities. ${consequence}Run the migration that makes it NOT NULL without a default.`,
      };
    }
    const what = kind === 'relation' ? `is not an ordinary table (${name === 'view' ? 'a view' : `relkind ${name}: a view or a foreign table`})` : kind === 'rule' ? `has the INSERT rule ${name}` : `has the ${registry.dataSource.driver.options.type === 'postgres' ? 'BEFORE INSERT ' : ''}trigger ${name}`;
    return {
      kind: 'tenant-trigger',
      subject: `${table}(${kind === 'relation' ? (name === 'view' ? 'view' : `relkind ${name}`) : name})`,
      message:
        `${table} ${what}. ${consequence}` +
        (kind === 'relation'
          ? 'Map the entity to the table itself, or use compositeKeys for the relations of this table.'
          : 'Make it leave a NULL tenant column alone (or drop it; then restart), or use compositeKeys for the relations of this table.'),
    };
  });
}
