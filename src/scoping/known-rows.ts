import type { QueryRunner } from 'typeorm';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import { underlyingRunner } from '../internal/typeorm/runner-view.js';
import type { ScopeContext } from './scope-context.js';

// Rows known to belong to a tenant within one operation or transaction: ids a reference check
// found in the tenant, and rows the tenant inserted there (rows an insert wrote, not ids it reported
// for rows it skipped: scoped-query-builders.ts, wroteReportedRows). A row's tenant never changes (the column
// is not updatable), so a later check of the same rows (a save's junction rows, ten updates naming
// one author) needs no new query. Kept per runner object (a view of SQLite's shared runner is one
// operation's) for one operation or one transaction: forgotten when its transaction ends and, per
// table, when rows of it are deleted or have their key changed through the library, on any runner
// (a freed key could come back as another tenant's where the database reuses ids or the key is natural).

/** What a runner knows of one entity's rows: their ids, as of a reading of the clock below. */
interface KnownOfEntity {
  asOf: number;
  readonly ids: Set<string>;
}

const known = new WeakMap<QueryRunner, { tenant: unknown; rows: Map<EntityMetadata, KnownOfEntity> }>();

// Keys freed through the library (rows deleted, primary keys changed), per DataSource and table:
// what any runner learned of that table's rows before is stale. On SQLite's one connection a delete
// by another operation runs inside an open transaction of this one, and a table without a foreign
// key does not lock the row a check found. A clock counts the frees; a table keeps the reading of
// its last one, and what a check learned counts as of the reading taken before it asked.
let clock = 0;
const lastFreed = new WeakMap<object, Map<string, number>>();

/** The clock of freed keys: read it before a check (or an insert) asks, pass it to rememberIds. */
export function knownRowsClock(): number {
  return clock;
}

/**
 * Rows of `metadata`'s table were deleted or had their key changed (on `runner`): no runner trusts
 * what it knew of them. Inside a transaction other connections still see the rows until it commits:
 * the table is marked again when the transaction ends (transactionEnded).
 */
export function keysFreed(metadata: EntityMetadata, runner?: QueryRunner): void {
  mark(metadata);
  if (!runner?.isTransactionActive) return;
  // Kept on the connection's runner: the transaction may end through it or through a view of it.
  const connection = underlyingRunner(runner);
  let tables = freedInTransaction.get(connection);
  if (!tables) freedInTransaction.set(connection, (tables = new Set()));
  tables.add(metadata);
}

function mark(metadata: EntityMetadata): void {
  let byTable = lastFreed.get(metadata.connection);
  if (!byTable) lastFreed.set(metadata.connection, (byTable = new Map()));
  byTable.set(metadata.tablePath, ++clock);
}

const freedInTransaction = new WeakMap<QueryRunner, Set<EntityMetadata>>();

function freedSince(metadata: EntityMetadata, asOf: number): boolean {
  return (lastFreed.get(metadata.connection)?.get(metadata.tablePath) ?? 0) > asOf;
}

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
  const ofEntity = rows && rows.tenant === scope.tenantId ? rows.rows.get(metadata) : undefined;
  const set = ofEntity && !freedSince(metadata, ofEntity.asOf) ? ofEntity.ids : undefined;
  return set ? ids.filter((id) => !set.has(String(id))) : [...ids];
}

/**
 * Records ids of `metadata` as the tenant's on this runner, as found by a check (or written by an
 * insert) that started at clock reading `asOf` (knownRowsClock): nothing when a key of the table was
 * freed since.
 */
export function rememberIds(runner: QueryRunner | undefined, scope: ScopeContext, metadata: EntityMetadata, ids: Iterable<unknown>, asOf: number): void {
  if (!runner || !scope.safe || scope.tenantId === undefined || !remembers(runner) || freedSince(metadata, asOf)) return;
  const rows = entry(runner, scope).rows;
  let ofEntity = rows.get(metadata);
  if (!ofEntity || freedSince(metadata, ofEntity.asOf)) rows.set(metadata, (ofEntity = { asOf, ids: new Set() }));
  else ofEntity.asOf = Math.min(ofEntity.asOf, asOf);
  for (const id of ids) if (id !== undefined && id !== null) ofEntity.ids.add(String(id));
}

/** The transaction on `runner` ended: what it knew is forgotten, the keys it freed are freed for everyone now. */
export function transactionEnded(runner: QueryRunner): void {
  known.delete(runner);
  const connection = underlyingRunner(runner);
  const tables = freedInTransaction.get(connection);
  if (!tables) return;
  freedInTransaction.delete(connection);
  for (const metadata of tables) mark(metadata);
}
