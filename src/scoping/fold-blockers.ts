import type { QueryRunner } from 'typeorm';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { ScopeRegistry } from './scope-registry.js';

// A folded reference check (folded-reference-check.ts) relies on the tenant column staying NULL when
// a reference is not the tenant's. On PostgreSQL a row-level BEFORE INSERT trigger can fill it in
// (`NEW.tenant_id := current_setting(...)`, a common pattern), and an INSERT rule can rewrite the
// statement: either would let another tenant's reference through. So before a table's first folded
// insert the catalog is asked, once per table and Tenancy, and a table that has either takes the
// separate check. Unknown counts as blocked; any such trigger counts, enabled or not (it can be
// enabled later). SQLite cannot change NEW in a trigger (and checks NOT NULL before AFTER triggers).

/** pg_trigger.tgtype bits (PostgreSQL's trigger.h): ROW | BEFORE | INSERT. */
export const ROW_BEFORE_INSERT = 1 | 2 | 4;

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
  const escape = (name: string) => registry.dataSource.driver.escape(name);
  const table = metadata.schema ? `${escape(metadata.schema)}.${escape(metadata.tableName)}` : escape(metadata.tableName);
  const question =
    `SELECT (EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = to_regclass($1) AND NOT t.tgisinternal AND (t.tgtype & ${ROW_BEFORE_INSERT}) = ${ROW_BEFORE_INSERT})` +
    ` OR EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite r WHERE r.ev_class = to_regclass($1) AND r.ev_type = '3')) AS "blocked"`;
  if (!runner.isTransactionActive) return blockedBy(await runner.query(question, [table]));
  await runner.query('SAVEPOINT tenancy_fold_catalog');
  try {
    const rows: unknown = await runner.query(question, [table]);
    await runner.query('RELEASE SAVEPOINT tenancy_fold_catalog');
    return blockedBy(rows);
  } catch (error) {
    await runner.query('ROLLBACK TO SAVEPOINT tenancy_fold_catalog');
    throw error;
  }
}

// Anything but a clear "no" blocks.
function blockedBy(rows: unknown): boolean {
  return !(Array.isArray(rows) && (rows[0] as { blocked?: unknown } | undefined)?.blocked === false);
}
