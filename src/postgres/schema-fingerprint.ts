import type { QueryRunner } from 'typeorm';

/**
 * One row: `fingerprint`, a sha256 over everything TypeORM's schema diff reads about the named
 * tables of one schema — columns (type, nullability, default, identity, generated, collation,
 * comment, enum labels), constraints (primary, unique, check, exclusion, foreign keys with their
 * actions), indexes and table comments — with the schema's own name taken out, so two schemas in
 * the same state have the same fingerprint. Every lookup goes through a catalog index (by name
 * and namespace, then by relation oid), so its cost does not grow with the number of schemas,
 * unlike information_schema's views, which scan the whole catalog. Definitions are rendered by
 * pg_get_*def under the caller's search_path (the tenant schema first), so names in it print
 * unqualified. $1 = schema, $2 = table names.
 */
export const schemaFingerprintSql = `
WITH t AS (
  SELECT c.oid, c.relname, c.relkind FROM pg_catalog.pg_class c
  WHERE c.relnamespace = (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname = $1) AND c.relname = ANY($2::text[])
), lines AS (
  SELECT format('table %s %s %s', t.relname, t.relkind, pg_catalog.obj_description(t.oid, 'pg_class')) AS line FROM t
  UNION ALL
  SELECT format('column %s.%s %s notnull=%s default=%s identity=%s generated=%s collation=%s comment=%s enum=%s',
      t.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_catalog.pg_get_expr(d.adbin, d.adrelid),
      a.attidentity, a.attgenerated, a.attcollation, pg_catalog.col_description(t.oid, a.attnum),
      (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e
        WHERE e.enumtypid = a.atttypid OR e.enumtypid = (SELECT ty.typelem FROM pg_catalog.pg_type ty WHERE ty.oid = a.atttypid)))
  FROM t JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = t.oid AND d.adnum = a.attnum
  UNION ALL
  SELECT format('constraint %s.%s %s %s', t.relname, k.conname, k.contype, pg_catalog.pg_get_constraintdef(k.oid))
  FROM t JOIN pg_catalog.pg_constraint k ON k.conrelid = t.oid
  UNION ALL
  SELECT format('index %s %s', t.relname, pg_catalog.pg_get_indexdef(i.indexrelid))
  FROM t JOIN pg_catalog.pg_index i ON i.indrelid = t.oid
)
SELECT encode(sha256(convert_to(replace(coalesce(string_agg(line, E'\\n' ORDER BY line), ''), quote_ident($1) || '.', ''), 'UTF8')), 'hex') AS fingerprint
FROM lines`;

/** The fingerprint of `tables` in `schema` (see `schemaFingerprintSql`), on the caller's runner and transaction. */
export async function schemaFingerprint(runner: QueryRunner, schema: string, tables: readonly string[]): Promise<string> {
  const [row] = (await runner.query(schemaFingerprintSql, [schema, tables])) as Array<{ fingerprint: string }>;
  return row!.fingerprint;
}
