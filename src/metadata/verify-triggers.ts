import type { DataSource } from 'typeorm';
import { canFoldReferences } from '../scoping/folded-reference-check.js';
import { foldBlockerQuery, regclassName } from '../scoping/fold-blockers.js';
import type { ScopeRegistry } from '../scoping/scope-registry.js';
import type { KeyProblem } from './verify-keys.js';

/**
 * A one-row insert on PostgreSQL checks its references inside the statement: a reference outside the
 * tenant leaves the tenant column NULL, and the database refuses the row (folded-reference-check.ts).
 * What could fill that NULL in — a row-level BEFORE INSERT trigger on a scoped table or on one of its
 * partitions, an INSERT rule, a view or foreign table in the table's place — makes the table take the
 * separate check at run time (fold-blockers.ts asks the catalog before a table's first folded insert).
 * Reported here as `'tenant-trigger'` all the same: it costs that table's inserts a statement, and one
 * added while the application runs is not seen until it restarts.
 */
export async function verifyTenantTriggers(dataSource: DataSource, registry: ScopeRegistry): Promise<KeyProblem[]> {
  if (!canFoldReferences(registry) || dataSource.driver.options.type !== 'postgres') return [];
  const tables = [...registry.scopedEntities].map(({ metadata }) => regclassName(registry, metadata));
  if (tables.length === 0) return [];
  const rows = (await dataSource.query(foldBlockerQuery(false), [tables])) as Array<{ table: string; name: string; kind: 'trigger' | 'rule' | 'relation' }>;
  const what = { trigger: 'the BEFORE INSERT trigger', rule: 'the INSERT rule', relation: 'relkind' } as const;
  return rows.map(({ table, name, kind }) => ({
    kind: 'tenant-trigger' as const,
    subject: `${table}(${kind === 'relation' ? `relkind ${name}` : name})`,
    message:
      (kind === 'relation'
        ? `${table} is not an ordinary table (relkind ${name}: a view or a foreign table). `
        : `${table} has ${what[kind]} ${name}. `) +
      'A one-row insert through a tenant manager checks its references inside the statement and relies on the tenant column staying NULL ' +
      "when a reference is not the tenant's, which this could change: inserts into this table take a separate check statement instead " +
      '(decided once per table when the application first inserts into it). ' +
      (kind === 'relation'
        ? 'Map the entity to the table itself, or use compositeKeys for the relations of this table.'
        : 'Make it leave a NULL tenant column alone (or drop it; then restart), or use compositeKeys for the relations of this table.'),
  }));
}
