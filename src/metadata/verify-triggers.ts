import type { DataSource } from 'typeorm';
import { canFoldReferences } from '../scoping/folded-reference-check.js';
import { ROW_BEFORE_INSERT } from '../scoping/fold-blockers.js';
import type { ScopeRegistry } from '../scoping/scope-registry.js';
import type { KeyProblem } from './verify-keys.js';

/**
 * A one-row insert on PostgreSQL checks its references inside the statement: a reference outside the
 * tenant leaves the tenant column NULL, and the database refuses the row (folded-reference-check.ts).
 * A row-level BEFORE INSERT trigger of the application on a scoped table could fill that NULL in, and
 * an INSERT rule could rewrite the statement. Such a table takes the separate check at run time
 * (fold-blockers.ts asks the catalog before a table's first folded insert); reported here as
 * `'tenant-trigger'` all the same: it costs that table's inserts a statement, and a trigger or rule
 * added while the application runs is not seen until it restarts.
 */
export async function verifyTenantTriggers(dataSource: DataSource, registry: ScopeRegistry): Promise<KeyProblem[]> {
  if (!canFoldReferences(registry) || dataSource.driver.options.type !== 'postgres') return [];
  const tables = [...registry.scopedEntities].map(({ metadata }) =>
    metadata.schema ? `${dataSource.driver.escape(metadata.schema)}.${dataSource.driver.escape(metadata.tableName)}` : dataSource.driver.escape(metadata.tableName),
  );
  if (tables.length === 0) return [];
  const rows = (await dataSource.query(
    `SELECT c.relname AS "table", t.tgname AS "trigger", 'trigger' AS "kind"
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      WHERE NOT t.tgisinternal AND (t.tgtype & ${ROW_BEFORE_INSERT}) = ${ROW_BEFORE_INSERT}
        AND t.tgrelid IN (SELECT to_regclass(name) FROM unnest($1::text[]) AS name)
     UNION ALL
     SELECT c.relname, r.rulename, 'rule'
       FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
      WHERE r.ev_type = '3' AND r.ev_class IN (SELECT to_regclass(name) FROM unnest($1::text[]) AS name)
      ORDER BY 1, 2`,
    [tables],
  )) as Array<{ table: string; trigger: string; kind: 'trigger' | 'rule' }>;
  return rows.map(({ table, trigger, kind }) => ({
    kind: 'tenant-trigger' as const,
    subject: `${table}(${trigger})`,
    message:
      (kind === 'rule' ? `${table} has the INSERT rule ${trigger}. ` : `${table} has the BEFORE INSERT trigger ${trigger}. `) +
      'A one-row insert through a tenant manager checks its references inside the statement and relies on the tenant column staying NULL ' +
      "when a reference is not the tenant's, which this could change: inserts into this table take a separate check statement instead " +
      '(decided once per table when the application first inserts into it). Make the trigger leave a NULL tenant column alone ' +
      '(or drop it; then restart), or use compositeKeys for the relations of this table.',
  }));
}
