import type { QueryRunner } from 'typeorm';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { ScopeRegistry } from './scope-registry.js';

// A folded reference check (folded-reference-check.ts) relies on the tenant column staying NULL when
// a reference is not the tenant's. On PostgreSQL a row-level BEFORE INSERT trigger can fill it in
// (`NEW.tenant_id := current_setting(...)`, a common pattern) — on the table or on the partition a
// row is routed to —, an INSERT rule can rewrite the statement, and a view (INSTEAD OF triggers, the
// triggers of its base table) or a foreign table does whatever it does with the row: each would let
// another tenant's reference through. So before a table's first folded insert the catalog is asked,
// once per table and Tenancy, and a table with any of them takes the separate check. Unknown counts
// as blocked (a failed question, a relation the catalog does not find); a trigger counts enabled or
// not (it can be enabled later). SQLite cannot change NEW in a trigger (and checks NOT NULL before
// AFTER triggers).

/** pg_trigger.tgtype bits (PostgreSQL's trigger.h): ROW | BEFORE | INSERT. */
const ROW_BEFORE_INSERT = 1 | 2 | 4;

/**
 * What could fill in the tenant column of the tables named in `$1` (a text[] of escaped, possibly
 * schema-qualified names): rows of (table, name, kind), kind `'trigger'` (its name, with the partition
 * it is on), `'rule'`, `'relation'` (not an ordinary or partitioned table: its relkind), or, with
 * `missing`, `'missing'` for a name the catalog does not resolve.
 */
export function foldBlockerQuery(missing: boolean): string {
  return `WITH target AS (SELECT to_regclass(name) AS oid, name FROM unnest($1::text[]) AS name)
    SELECT c.relname AS "table", t.tgname || CASE WHEN p.oid = c.oid THEN '' ELSE ' on ' || p.relname END AS "name", 'trigger' AS "kind"
      FROM target JOIN pg_catalog.pg_class c ON c.oid = target.oid
      CROSS JOIN LATERAL (SELECT c.oid UNION SELECT relid FROM pg_catalog.pg_partition_tree(c.oid)) AS tree (oid)
      JOIN pg_catalog.pg_class p ON p.oid = tree.oid
      JOIN pg_catalog.pg_trigger t ON t.tgrelid = tree.oid
     WHERE NOT t.tgisinternal AND (t.tgtype & ${ROW_BEFORE_INSERT}) = ${ROW_BEFORE_INSERT}
    UNION ALL
    SELECT c.relname, r.rulename, 'rule' FROM target JOIN pg_catalog.pg_class c ON c.oid = target.oid JOIN pg_catalog.pg_rewrite r ON r.ev_class = c.oid WHERE r.ev_type = '3'
    UNION ALL
    SELECT c.relname, c.relkind::text, 'relation' FROM target JOIN pg_catalog.pg_class c ON c.oid = target.oid WHERE c.relkind NOT IN ('r', 'p')` +
    (missing ? `
    UNION ALL
    SELECT target.name, target.name, 'missing' FROM target WHERE target.oid IS NULL` : '') + `
    ORDER BY 1, 2`;
}

/** The name `to_regclass` resolves for `metadata`'s table, as the application's statements name it. */
export function regclassName(registry: ScopeRegistry, metadata: EntityMetadata): string {
  const escape = (name: string) => registry.dataSource.driver.escape(name);
  return metadata.schema ? `${escape(metadata.schema)}.${escape(metadata.tableName)}` : escape(metadata.tableName);
}

const tables = new WeakMap<ScopeRegistry, Map<EntityMetadata, boolean>>();
const asking = new WeakMap<ScopeRegistry, Map<EntityMetadata, Promise<void>>>();

function needsCatalog(registry: ScopeRegistry): boolean {
  return registry.dataSource.driver.options.type === 'postgres';
}

/** Whether an insert into `metadata`'s table may fold its reference check: `undefined` until the catalog was asked. */
export function foldAllowed(registry: ScopeRegistry, metadata: EntityMetadata): boolean | undefined {
  if (!needsCatalog(registry)) return true;
  const known = tables.get(registry)?.get(metadata);
  return known === undefined ? undefined : !known;
}

/**
 * Asks the catalog whether `metadata`'s table has a row-level BEFORE INSERT trigger or an INSERT rule:
 * on `runner`, the insert's own (never a second connection while it holds one, which a pool of one
 * would never give), or on a runner of its own when the insert has none yet.
 * Inside a transaction the question runs in a savepoint, so that even a failed question (a catalog
 * the role may not read) leaves the transaction usable; a failed question blocks the table for good.
 */
export function learnFoldBlockers(registry: ScopeRegistry, metadata: EntityMetadata, runner: QueryRunner | undefined): Promise<void> {
  let pending = asking.get(registry);
  if (!pending) asking.set(registry, (pending = new Map()));
  let question = pending.get(metadata);
  if (!question) {
    const record = (blocked: boolean) => {
      let known = tables.get(registry);
      if (!known) tables.set(registry, (known = new Map()));
      known.set(metadata, blocked);
    };
    question = (runner ? ask(registry, metadata, runner) : askOnOwnRunner(registry, metadata))
      .then((blocked) => record(blocked), () => record(true))
      .finally(() => pending.delete(metadata));
    pending.set(metadata, question);
  }
  return question;
}

async function askOnOwnRunner(registry: ScopeRegistry, metadata: EntityMetadata): Promise<boolean> {
  const runner = registry.dataSource.createQueryRunner();
  try {
    return await ask(registry, metadata, runner);
  } finally {
    await runner.release();
  }
}

async function ask(registry: ScopeRegistry, metadata: EntityMetadata, runner: QueryRunner): Promise<boolean> {
  const question = foldBlockerQuery(true);
  const parameters = [[regclassName(registry, metadata)]];
  if (!runner.isTransactionActive) return blockedBy(await runner.query(question, parameters));
  await runner.query('SAVEPOINT tenancy_fold_catalog');
  try {
    const rows: unknown = await runner.query(question, parameters);
    await runner.query('RELEASE SAVEPOINT tenancy_fold_catalog');
    return blockedBy(rows);
  } catch (error) {
    await runner.query('ROLLBACK TO SAVEPOINT tenancy_fold_catalog');
    throw error;
  }
}

// Anything but an empty answer blocks.
function blockedBy(rows: unknown): boolean {
  return !(Array.isArray(rows) && rows.length === 0);
}
