import type { QueryRunner } from 'typeorm';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { RelationMetadata } from 'typeorm/metadata/RelationMetadata.js';
import { knownRowsClock, rememberIds, unknownIds } from './known-rows.js';
import { withScope } from './scope-carrier.js';
import type { ScopeContext } from './scope-context.js';
import type { ScopeRegistry } from './scope-registry.js';

// The query of the reference check: one statement for every referenced entity type of a write,
//   SELECT (SELECT COUNT(*) FROM categories ref WHERE ref.id IN (...) AND ref.tenant_id = :t) AS tenancy_refs_0,
//          (SELECT COUNT(*) FROM tags ref WHERE ...) AS tenancy_refs_1
//   FROM (SELECT 1 AS dummy_column) dummy_table
// built with the tenant's scoped builders (so row level, RLS, schema and database strategies all
// apply). A primary key matches at most one row, so a count equal to the number of distinct ids
// means every id is a row of the tenant; only when one is short is a second query asked which id.
// A write referencing one type selects its ids directly (one statement either way, fewer builders).

/** The referenced ids of one write: per entity, each id and a relation that names it (for the error). */
export type References = Map<EntityMetadata, Map<unknown, RelationMetadata>>;

/** What the query needs of a referenced entity that does not depend on the ids (kept per registry). */
interface Target {
  readonly metadata: EntityMetadata;
  /** The select alias and parameter name of its subquery, unique among the registry's entities. */
  readonly name: string;
  /** `ref.<primary> IN (:...<name>)` */
  readonly condition: string;
  /** Which ids the database compares exactly as `String(id)` (the count is trusted only for those). */
  readonly exact: (id: unknown) => boolean;
}

const targets = new WeakMap<ScopeRegistry, Map<EntityMetadata, Target>>();

const integerType = /^(?:tiny|small|medium|big)?int(?:eger)?[248]?$|^(?:small|big)?serial$/i;
const stringType = /char|text|uuid|string|clob/i;
// Up to 18 digits fits a signed 64-bit integer: no database rounds it when comparing with an integer column.
const canonicalInteger = /^(?:0|-?[1-9]\d{0,17})$/;

function targetOf(registry: ScopeRegistry, metadata: EntityMetadata): Target {
  let byEntity = targets.get(registry);
  if (!byEntity) targets.set(registry, (byEntity = new Map()));
  let target = byEntity.get(metadata);
  if (!target) {
    const primary = metadata.primaryColumns[0]!;
    const name = `tenancy_refs_${byEntity.size}`;
    const type = registry.dataSource.driver.normalizeType(primary);
    // An id in another form ('01', 1.0, a number for a text key) may still match a row (MariaDB
    // compares '5abc' = 5); the row would be the tenant's, but such ids take the exact path, as before.
    const exact = integerType.test(type)
      ? (id: unknown) => (typeof id === 'number' ? Number.isSafeInteger(id) : typeof id === 'bigint' || (typeof id === 'string' && canonicalInteger.test(id)))
      : stringType.test(type)
        ? (id: unknown) => typeof id === 'string'
        : () => false;
    target = { metadata, name, condition: `ref.${primary.propertyPath} IN (:...${name})`, exact };
    byEntity.set(metadata, target);
  }
  return target;
}

/** Whether the database compares `id` with `metadata`'s key exactly as `String(id)` (an integer or text key in its own form). */
export function isExactId(registry: ScopeRegistry, metadata: EntityMetadata, id: unknown): boolean {
  return targetOf(registry, metadata).exact(id);
}

/** A builder of the tenant's scope on the caller's runner (soft-deleted rows count as present). */
function scopedSelect(scope: ScopeContext, runner: QueryRunner | undefined) {
  return withScope(scope.registry.dataSource.createQueryBuilder(runner), scope);
}

/**
 * Inside a transaction a check reads the rows as they are now and keeps them until it ends (a shared
 * lock, what PostgreSQL's own foreign-key check takes): a plain read sees the transaction's snapshot
 * under REPEATABLE READ (MySQL's and MariaDB's default), where a row deleted since — its key since
 * taken by another tenant's row — still looks like the tenant's, and an unlocked row could be deleted
 * before the write that names it. On PostgreSQL under REPEATABLE READ a row changed since the snapshot
 * fails the check with a serialization error instead. SQLite has one writer: nothing to lock.
 */
export function checkLock(runner: QueryRunner | undefined): 'for_key_share' | 'pessimistic_read' | undefined {
  if (!runner?.isTransactionActive) return undefined;
  const type = runner.connection.driver.options.type;
  if (type === 'postgres') return 'for_key_share';
  return type === 'mysql' || type === 'mariadb' ? 'pessimistic_read' : undefined;
}

/** The ids of `ids` not yet known to be the tenant's, each distinct `String(id)` once. */
function idsToCheck(runner: QueryRunner | undefined, scope: ScopeContext, metadata: EntityMetadata, ids: Map<unknown, RelationMetadata>): unknown[] {
  const unknown = unknownIds(runner, scope, metadata, [...ids.keys()]);
  if (unknown.length < 2) return unknown;
  // 1 and '1' name one row: counted once, or the count could never match.
  const seen = new Set<string>();
  return unknown.filter((id) => !seen.has(String(id)) && !!seen.add(String(id)));
}

/**
 * Checks that every id in `found` is a row of the tenant, with one statement for all entities
 * (none when every id is already known on the runner; one more per entity whose ids come in an
 * odd form, or on the failure path); returns the first id that is not, with its relation, or
 * `undefined`. Ids are remembered on the runner once found (known-rows.ts).
 */
export async function findForeignReference(
  scope: ScopeContext,
  found: References,
  runner: QueryRunner | undefined,
): Promise<[unknown, RelationMetadata] | undefined> {
  const asOf = knownRowsClock();
  const pending: Array<[Target, unknown[]]> = [];
  for (const [metadata, ids] of found) {
    const check = idsToCheck(runner, scope, metadata, ids);
    if (check.length > 0) pending.push([targetOf(scope.registry, metadata), check]);
  }
  // One type: its ids are selected directly, one statement as cheap as the counts and exact. A locking
  // read (checkLock) selects the rows of each type: a count cannot lock them.
  const byId = pending.length === 1 || checkLock(runner) ? pending : pending.filter(([target, ids]) => !ids.every(target.exact));
  const counted = pending.length === 1 ? [] : pending.filter((entry) => !byId.includes(entry));
  if (counted.length > 0) {
    const qb = scopedSelect(scope, runner);
    for (const [target, ids] of counted) {
      qb.addSelect(
        (sub) => sub.select('COUNT(*)').from(target.metadata.target, 'ref').withDeleted().where(target.condition, { [target.name]: ids }),
        target.name,
      );
    }
    const counts = (await qb.fromDummy().getRawOne<Record<string, unknown>>()) ?? {};
    for (const entry of counted) {
      // Short: which id is missing is asked on this failure path only.
      if (Number(counts[entry[0].name]) !== entry[1].length) byId.push(entry);
      else rememberIds(runner, scope, entry[0].metadata, entry[1], asOf);
    }
  }
  for (const [target, ids] of byId) {
    const missing = await findMissing(scope, target, ids, runner);
    if (missing !== undefined) return [missing, found.get(target.metadata)!.get(missing)!];
    rememberIds(runner, scope, target.metadata, ids, asOf);
  }
  return undefined;
}

/** The first of `ids` that is not a row of the tenant, compared as the database returns it. */
async function findMissing(scope: ScopeContext, target: Target, ids: unknown[], runner: QueryRunner | undefined): Promise<unknown> {
  const primary = target.metadata.primaryColumns[0]!;
  const qb = scopedSelect(scope, runner)
    .select(`ref.${primary.propertyPath}`, 'tenancy_refs_id')
    .from(target.metadata.target, 'ref')
    .withDeleted()
    .where(target.condition, { [target.name]: ids });
  const lock = checkLock(runner);
  if (lock) qb.setLock(lock);
  const rows = await qb.getRawMany<{ tenancy_refs_id: unknown }>();
  const present = new Set(rows.map((r) => String(r.tenancy_refs_id)));
  return ids.find((id) => !present.has(String(id)));
}
