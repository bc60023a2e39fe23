import type { DataSource } from 'typeorm';
import { canFoldReferences } from '../scoping/folded-reference-check.js';
import type { ScopeRegistry } from '../scoping/scope-registry.js';
import type { KeyProblem } from './verify-keys.js';

// pg_trigger.tgtype bits (PostgreSQL's trigger.h): a row-level BEFORE INSERT trigger.
const ROW = 1;
const BEFORE = 2;
const INSERT = 4;

/**
 * A one-row insert on PostgreSQL checks its references inside the statement: a reference outside the
 * tenant leaves the tenant column NULL, and the database refuses the row (folded-reference-check.ts).
 * A row-level BEFORE INSERT trigger of the application on a scoped table could fill that NULL in:
 * reported as `'tenant-trigger'` (drop it, make it leave a NULL tenant column alone, or use
 * `compositeKeys` for the table's relations).
 */
export async function verifyTenantTriggers(dataSource: DataSource, registry: ScopeRegistry): Promise<KeyProblem[]> {
  if (!canFoldReferences(registry) || dataSource.driver.options.type !== 'postgres') return [];
  const tables = [...registry.scopedEntities].map(({ metadata }) =>
    metadata.schema ? `${dataSource.driver.escape(metadata.schema)}.${dataSource.driver.escape(metadata.tableName)}` : dataSource.driver.escape(metadata.tableName),
  );
  if (tables.length === 0) return [];
  const rows = (await dataSource.query(
    `SELECT c.relname AS "table", t.tgname AS "trigger"
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' AND (t.tgtype & ${ROW | BEFORE | INSERT}) = ${ROW | BEFORE | INSERT}
        AND t.tgrelid IN (SELECT to_regclass(name) FROM unnest($1::text[]) AS name)
      ORDER BY 1, 2`,
    [tables],
  )) as Array<{ table: string; trigger: string }>;
  return rows.map(({ table, trigger }) => ({
    kind: 'tenant-trigger' as const,
    subject: `${table}(${trigger})`,
    message:
      `${table} has the BEFORE INSERT trigger ${trigger}. A one-row insert through a tenant manager checks its references inside the statement ` +
      'and relies on the tenant column staying NULL when a reference is not the tenant\'s; a trigger that fills it in would let the row through. ' +
      'Make the trigger leave a NULL tenant column alone (or drop it), or use compositeKeys for the relations of this table.',
  }));
}
