import type { QueryRunner } from 'typeorm';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { ScopeContext } from './scope-context.js';

// Rows known to belong to a tenant within one operation or transaction: ids a reference check
// found in the tenant, and rows the tenant inserted there (rows an insert wrote, not ids it reported
// for rows it skipped: scoped-query-builders.ts, wroteReportedRows). A row's tenant never changes (the column
// is not updatable), so a later check of the same rows (a save's junction rows, ten updates naming
// one author) needs no new query. Kept per runner object (a view of SQLite's shared runner is one
// operation's) for one operation or one transaction: forgotten when its transaction ends and, per
// entity, when the tenant deletes rows of it (a deleted id could come back as another tenant's where
// the database reuses ids or the key is natural).

const known = new WeakMap<QueryRunner, { tenant: unknown; rows: Map<EntityMetadata, Set<string>> }>();

// Runners made for one operation (by the library, or by TypeORM for one statement) and dropped when
// it ends: what they learn dies with them. Any other runner — one the caller holds, and on SQLite
// the connection every tenant shares — keeps what it learns only while a transaction is open on it:
// between two operations a row it vouched for could be deleted and its key taken by another tenant's.
const operationRunners = new WeakSet<QueryRunner>();

/** Marks a runner that exists for one operation only (runner-scope.ts). */
export function markOperationRunner(runner: QueryRunner): void {
  operationRunners.add(runner);
}

function remembers(runner: QueryRunner): boolean {
  return operationRunners.has(runner) || runner.isTransactionActive;
}

function entry(runner: QueryRunner, scope: ScopeContext) {
  let found = known.get(runner);
  if (!found || found.tenant !== scope.tenantId) {
    found = { tenant: scope.tenantId, rows: new Map() };
    known.set(runner, found);
  }
  return found;
}

/** The ids of `metadata` not yet known to be the tenant's on this runner. */
export function unknownIds<T>(runner: QueryRunner | undefined, scope: ScopeContext, metadata: EntityMetadata, ids: readonly T[]): T[] {
  if (!runner || !remembers(runner)) return [...ids];
  const rows = known.get(runner);
  const set = rows && rows.tenant === scope.tenantId ? rows.rows.get(metadata) : undefined;
  return set ? ids.filter((id) => !set.has(String(id))) : [...ids];
}

/** Records ids of `metadata` as the tenant's on this runner. */
export function rememberIds(runner: QueryRunner | undefined, scope: ScopeContext, metadata: EntityMetadata, ids: Iterable<unknown>): void {
  if (!runner || !scope.safe || scope.tenantId === undefined || !remembers(runner)) return;
  const rows = entry(runner, scope).rows;
  let set = rows.get(metadata);
  if (!set) rows.set(metadata, (set = new Set()));
  for (const id of ids) if (id !== undefined && id !== null) set.add(String(id));
}

/** Forgets what was known on this runner (its transaction ended), or only about `metadata` (rows of it were deleted). */
export function forgetIds(runner: QueryRunner, metadata?: EntityMetadata): void {
  if (metadata) known.get(runner)?.rows.delete(metadata);
  else known.delete(runner);
}
