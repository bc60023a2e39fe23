import type { QueryRunner } from 'typeorm';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { ScopedEntity, ScopeRegistry } from './scope-registry.js';

// A folded reference check (folded-reference-check.ts) relies on the database refusing a row whose
// tenant column came out NULL. What can defeat that, per table:
// - PostgreSQL: a row-level BEFORE INSERT trigger that fills it in (`NEW.tenant_id :=
//   current_setting(...)`, a common pattern) — on the table, or on the partition a row is routed
//   to —, an INSERT rule, a view or foreign table in the table's place;
// - SQLite: a trigger (a BEFORE INSERT trigger cannot change NEW, but it can insert a row of its own
//   and RAISE(IGNORE) the original), a view in the table's place;
// - both: a tenant column the database itself lets be NULL (a schema behind the entities); on SQLite
//   also one with a default, which `NOT NULL ON CONFLICT REPLACE` would put in place of the NULL, and
//   any ON CONFLICT clause in the table's definition (`NOT NULL ON CONFLICT IGNORE` drops the row
//   without an error, and the insert would report another row's id as its own). The clause is found
//   by the word CONFLICT anywhere in the table's SQL: whitespace or comments inside the clause cannot
//   hide it, and a column so named only costs that table the separate check.
// So before a table's first folded insert the library asks the database, once per table and
// Tenancy, and a table with any of them takes the separate check. The same things let an insert
// succeed without writing its row, so the answer also decides whether the ids an insert reports are
// rows it wrote (known-rows.ts) and, on SQLite, whether TypeORM's re-select of generated columns by
// the connection's last insert id may skip the tenant scope (scope-carrier.ts), and on SQLite whether
// an ON CONFLICT REPLACE refuses writes: it is asked before a scoped table's first write
// (scoped-query-builders.ts, tableQuestion). Unknown counts as blocked (a
// failed question, a table the catalog does not find); a PostgreSQL trigger counts enabled or not
// (it can be enabled later), a SQLite trigger whatever it does (its timing and event are only in
// its SQL text).

/** What could let a folded insert's NULL tenant column through. */
export interface FoldBlocker {
  readonly table: string;
  /** The trigger or rule (a PostgreSQL trigger on a partition: `trigger on partition`), the relkind or view, the column. */
  readonly name: string;
  readonly kind: 'trigger' | 'rule' | 'relation' | 'nullable' | 'conflict' | 'replace' | 'missing';
}

type Query = (sql: string, parameters: unknown[]) => Promise<unknown>;

/** pg_trigger.tgtype bits (PostgreSQL's trigger.h): ROW | BEFORE | INSERT. */
const ROW_BEFORE_INSERT = 1 | 2 | 4;

// $1: escaped, possibly schema-qualified table names, as the application's statements name them; $2: their tenant columns.
const postgresQuestion = (missing: boolean) => `WITH target AS (SELECT to_regclass(name) AS oid, name, tenant_column FROM unnest($1::text[], $2::text[]) AS x (name, tenant_column))
    SELECT c.relname AS "table", t.tgname || CASE WHEN p.oid = c.oid THEN '' ELSE ' on ' || p.relname END AS "name", 'trigger' AS "kind"
      FROM target JOIN pg_catalog.pg_class c ON c.oid = target.oid
      CROSS JOIN LATERAL (SELECT c.oid UNION SELECT relid FROM pg_catalog.pg_partition_tree(c.oid)) AS tree (oid)
      JOIN pg_catalog.pg_class p ON p.oid = tree.oid
      JOIN pg_catalog.pg_trigger t ON t.tgrelid = tree.oid
     WHERE NOT t.tgisinternal AND (t.tgtype & ${ROW_BEFORE_INSERT}) = ${ROW_BEFORE_INSERT}
    UNION ALL
    SELECT c.relname, r.rulename, 'rule' FROM target JOIN pg_catalog.pg_class c ON c.oid = target.oid JOIN pg_catalog.pg_rewrite r ON r.ev_class = c.oid WHERE r.ev_type = '3'
    UNION ALL
    SELECT c.relname, c.relkind::text, 'relation' FROM target JOIN pg_catalog.pg_class c ON c.oid = target.oid WHERE c.relkind NOT IN ('r', 'p')
    UNION ALL
    SELECT c.relname, a.attname, 'nullable' FROM target JOIN pg_catalog.pg_class c ON c.oid = target.oid
      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = target.tenant_column
     WHERE c.relkind IN ('r', 'p') AND NOT a.attnotnull` +
  (missing ? `
    UNION ALL
    SELECT target.name, target.name, 'missing' FROM target WHERE target.oid IS NULL` : '') + `
    ORDER BY 1, 2`;

// Parameters: the table name for every ?, except the tenant column's (the seventh).
const sqliteQuestion = `SELECT ? AS "table", name, 'trigger' AS kind FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? COLLATE NOCASE
    UNION ALL SELECT ?, name, 'trigger' FROM sqlite_temp_master WHERE type = 'trigger' AND tbl_name = ? COLLATE NOCASE
    UNION ALL SELECT ?, name, 'nullable' FROM pragma_table_info(?) WHERE name = ? AND ("notnull" = 0 OR dflt_value IS NOT NULL)
      AND EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE)
    UNION ALL SELECT ?, sql, 'conflict' FROM (SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE
      UNION ALL SELECT sql FROM sqlite_temp_master WHERE type = 'table' AND name = ? COLLATE NOCASE) WHERE sql LIKE '%CONFLICT%'
    UNION ALL SELECT name, 'view', 'relation' FROM sqlite_master WHERE type = 'view' AND name = ? COLLATE NOCASE
    UNION ALL SELECT ?, ?, 'missing' WHERE NOT EXISTS (SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ? COLLATE NOCASE)`;

/** Whether inserts into this database's tables are asked about (the databases that fold: folded-reference-check.ts). */
function asksDatabase(registry: ScopeRegistry): 'postgres' | 'sqlite' | undefined {
  const type = registry.dataSource.driver.options.type;
  return type === 'postgres' ? 'postgres' : type === 'better-sqlite3' ? 'sqlite' : undefined;
}

/**
 * What could let a folded insert's NULL tenant column through on the tables of `scoped`, asked with
 * `query`; with `missing`, a table the database does not find is one too.
 */
export async function foldBlockers(registry: ScopeRegistry, scoped: readonly ScopedEntity[], query: Query, missing: boolean): Promise<FoldBlocker[]> {
  const database = asksDatabase(registry);
  if (!database || scoped.length === 0) return [];
  if (database === 'postgres') {
    const escape = (name: string) => registry.dataSource.driver.escape(name);
    const names = scoped.map(({ metadata }) => (metadata.schema ? `${escape(metadata.schema)}.${escape(metadata.tableName)}` : escape(metadata.tableName)));
    return rowsOf(await query(postgresQuestion(missing), [names, scoped.map(({ column }) => column.databaseName)]));
  }
  const found: FoldBlocker[] = [];
  for (const { metadata, column } of scoped) {
    const t = metadata.tableName;
    // A table of an attached database takes the separate check; only its REPLACE clauses are looked up
    // there, in the master table of the handle TypeORM attached it under (its table path: `handle.table`).
    if (metadata.database || metadata.schema) {
      if (missing) found.push({ table: metadata.tablePath, name: metadata.tablePath, kind: 'missing' });
      const handle = metadata.tablePath.endsWith(`.${t}`) ? metadata.tablePath.slice(0, -(t.length + 1)) : undefined;
      if (handle === undefined) throw new TypeError(`no attached database handle in the table path ${metadata.tablePath}`);
      const master = `${registry.dataSource.driver.escape(handle)}.sqlite_master`;
      const rows = rowsOf(await query(`SELECT ? AS "table", sql AS name, 'conflict' AS kind FROM ${master} WHERE type = 'table' AND name = ? COLLATE NOCASE AND sql LIKE '%CONFLICT%'`, [metadata.tablePath, t]));
      found.push(...rows.flatMap(conflictBlockers).filter((row) => row.kind === 'replace'));
      continue;
    }
    const rows = rowsOf(await query(sqliteQuestion, [t, t, t, t, t, t, column.databaseName, t, t, t, t, t, t, t, t]));
    found.push(...rows.flatMap((row) => (row.kind === 'conflict' ? conflictBlockers(row) : [row])).filter((row) => missing || row.kind !== 'missing'));
  }
  return found;
}

/**
 * A SQLite table whose definition has an ON CONFLICT clause (`row.name`: its SQL): a blocker, and with
 * a REPLACE clause on a unique key a second one — SQLite then deletes whatever row an insert or update
 * conflicts with, another tenant's too. Found by the word REPLACE anywhere after the word CONFLICT,
 * once `NOT NULL ON CONFLICT REPLACE` (which puts a column's default in place of a NULL, deleting
 * nothing) is left out: no comment, string or spacing can hide a clause, and a `replace()` in a
 * default after an IGNORE clause only costs the table a refused write.
 */
function conflictBlockers(row: FoldBlocker): FoldBlocker[] {
  const conflict: FoldBlocker = { table: row.table, name: 'ON CONFLICT', kind: 'conflict' };
  const sql = String(row.name).replace(/\bNOT\s+NULL\s+ON\s+CONFLICT\s+REPLACE\b/gi, ' ');
  return /\bCONFLICT\b[\s\S]*\bREPLACE\b/i.test(sql) ? [conflict, { table: row.table, name: 'ON CONFLICT REPLACE', kind: 'replace' }] : [conflict];
}

function rowsOf(rows: unknown): FoldBlocker[] {
  if (!Array.isArray(rows)) throw new TypeError('the catalog question returned no rows');
  return rows as FoldBlocker[];
}

/** What the database said about a table: something blocks the fold; a REPLACE clause (SQLite). */
interface TableAnswer {
  readonly blocked: boolean;
  readonly replaces: boolean;
  /** The question failed (SQLite: then `replaces` too, unknown counting as yes). */
  readonly failed: boolean;
}

const tables = new WeakMap<ScopeRegistry, Map<EntityMetadata, TableAnswer>>();
const asking = new WeakMap<ScopeRegistry, Map<EntityMetadata, Promise<void>>>();

/** Whether an insert into `scoped`'s table may fold its reference check: `undefined` until the database was asked. */
export function foldAllowed(registry: ScopeRegistry, metadata: EntityMetadata): boolean | undefined {
  const known = tables.get(registry)?.get(metadata);
  return known === undefined ? undefined : !known.blocked;
}

/** Whether the database was asked about the table (once per table and Tenancy). */
export function tableAnswered(registry: ScopeRegistry, metadata: EntityMetadata): boolean {
  return tables.get(registry)?.get(metadata) !== undefined;
}

/**
 * Whether the database said nothing on the table can drop a row without an error (no trigger, rule,
 * view or ON CONFLICT clause; a nullable tenant column counts too, conservatively): then the ids an
 * insert reports are rows it wrote. `false` until asked.
 */
export function keepsEveryRow(registry: ScopeRegistry, metadata: EntityMetadata): boolean {
  return foldAllowed(registry, metadata) === true;
}

/**
 * Whether the table has an ON CONFLICT REPLACE clause (SQLite), which lets a tenant's insert or update
 * delete another tenant's conflicting row: `undefined` until the database was asked, `'unknown'` when
 * the question failed (refused like a yes).
 */
export function replacesRows(registry: ScopeRegistry, metadata: EntityMetadata): boolean | 'unknown' | undefined {
  const known = tables.get(registry)?.get(metadata);
  return known?.replaces && known.failed ? 'unknown' : known?.replaces;
}

/**
 * Asks the database what could let a folded insert into `scoped`'s table through, before the table's
 * first folded insert. An insert that holds a runner asks on it (its own question: waiting for a
 * question on another connection while holding one could wait forever on a small pool); one that has
 * none yet asks on a runner of its own, a question the other runner-less inserts of the table share.
 * Inside a PostgreSQL transaction the question runs in a savepoint, so that even a failed question (a
 * catalog the role may not read) leaves the transaction usable. A failed question blocks the table,
 * and a table once found blocked stays blocked.
 */
export function learnFoldBlockers(registry: ScopeRegistry, scoped: ScopedEntity, runner: QueryRunner | undefined): Promise<void> {
  const { metadata } = scoped;
  const record = (blockers: readonly FoldBlocker[] | undefined) => {
    let known = tables.get(registry);
    if (!known) tables.set(registry, (known = new Map()));
    const before = known.get(metadata);
    known.set(metadata, {
      blocked: before?.blocked === true || blockers === undefined || blockers.length > 0,
      // Only SQLite has the clause; a failed question there counts as one.
      replaces: before?.replaces === true || (asksDatabase(registry) === 'sqlite' && (blockers === undefined || blockers.some((b) => b.kind === 'replace'))),
      failed: before?.failed === true || blockers === undefined,
    });
  };
  const asked = (question: Promise<readonly FoldBlocker[]>) => question.then(record, () => record(undefined));
  if (runner) return asked(ask(registry, scoped, runner));
  let pending = asking.get(registry);
  if (!pending) asking.set(registry, (pending = new Map()));
  let question = pending.get(metadata);
  if (!question) {
    question = asked(askOnOwnRunner(registry, scoped)).finally(() => pending.delete(metadata));
    pending.set(metadata, question);
  }
  return question;
}

async function askOnOwnRunner(registry: ScopeRegistry, scoped: ScopedEntity): Promise<readonly FoldBlocker[]> {
  const runner = registry.dataSource.createQueryRunner();
  try {
    return await ask(registry, scoped, runner);
  } finally {
    await runner.release();
  }
}

async function ask(registry: ScopeRegistry, scoped: ScopedEntity, runner: QueryRunner): Promise<readonly FoldBlocker[]> {
  const query: Query = (sql, parameters) => runner.query(sql, parameters);
  // SQLite goes on after a failed statement; PostgreSQL would abort the transaction.
  if (!runner.isTransactionActive || asksDatabase(registry) === 'sqlite') return foldBlockers(registry, [scoped], query, true);
  await runner.query('SAVEPOINT tenancy_fold_catalog');
  try {
    const blockers = await foldBlockers(registry, [scoped], query, true);
    await runner.query('RELEASE SAVEPOINT tenancy_fold_catalog');
    return blockers;
  } catch (error) {
    await runner.query('ROLLBACK TO SAVEPOINT tenancy_fold_catalog');
    throw error;
  }
}
