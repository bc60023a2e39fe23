import { type InsertQueryBuilder, type ObjectLiteral, QueryFailedError, type QueryRunner } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { RelationMetadata } from 'typeorm/metadata/RelationMetadata.js';
import { TenantMismatchError } from '../errors.js';
import { describeValue } from './describe-value.js';
import { unknownIds } from './known-rows.js';
import { type ReferenceCheck, referenceMismatch } from './reference-guard.js';
import { findForeignReference, isExactId, type References } from './reference-query.js';
import { refused } from './refusal.js';
import { statementMayFail } from './operation-transactions.js';
import { foldAllowed } from './fold-blockers.js';
import { withScope } from './scope-carrier.js';
import type { ScopeContext } from './scope-context.js';
import type { ScopedEntity, ScopeRegistry } from './scope-registry.js';

// A one-row insert into a row-level tenant table that names rows of scoped entities by single-column
// keys (which the database cannot check per tenant) checks them inside the INSERT: its tenant column
// takes its value from the referenced rows, read through the tenant scope,
//   INSERT INTO "post"("title", "authorId", "tenant_id")
//   VALUES ($1, $2, (SELECT "tenancy_ref_0"."tenant_id" FROM "author" "tenancy_ref_0"
//                    WHERE "tenancy_ref_0"."id" = $3 AND "tenancy_ref_0"."tenant_id" = $4))
// A reference to another tenant's row, or to no row, leaves the tenant column NULL and the database
// refuses the row (the column is NOT NULL; under row-level security the policy's WITH CHECK refuses
// it first); the library turns that refusal into the TenantMismatchError. One statement instead of a
// check and the insert, atomic, and nothing to read back in between. Where it cannot be folded
// (several rows, upserts, ids in a form the database may read differently, MySQL/MariaDB, which
// refuse a subquery on the table being inserted into, the schema and database strategies) the
// separate check (reference-query.ts) runs before the insert.

/** One referenced row a folded insert checks. */
export interface FoldedReference {
  readonly target: EntityMetadata;
  readonly id: unknown;
  readonly relation: RelationMetadata;
}

/** More referenced rows than this take the separate check (each folded row is one more FROM item). */
const MAX_FOLDED = 4;

/** Whether inserts of this Tenancy can carry their reference check (row-level tenant columns, SQLite or PostgreSQL). */
export function canFoldReferences(registry: ScopeRegistry): boolean {
  if (registry.schemas || registry.routedStorage) return false;
  const type = registry.dataSource.driver.options.type;
  return type === 'postgres' || type === 'better-sqlite3';
}

/**
 * The rows a check of `check`'s references must still ask about (known rows of the runner left
 * out), as references to fold into a one-row insert — or `undefined` when they cannot be folded.
 */
export function foldableReferences(scope: ScopeContext, check: ReferenceCheck, runner: QueryRunner | undefined): FoldedReference[] | undefined {
  const registry = scope.registry;
  if (!canFoldReferences(registry)) return undefined;
  const folded: FoldedReference[] = [];
  for (const [target, ids] of check.references) {
    const scoped = registry.scopedEntity(target);
    if (!scoped || scoped.tenantTable) return undefined;
    const seen = new Set<string>();
    for (const id of unknownIds(runner, scope, target, [...ids.keys()])) {
      if (!isExactId(registry, target, id)) return undefined;
      if (seen.has(String(id))) continue;
      seen.add(String(id));
      folded.push({ target, id, relation: ids.get(id)! });
      if (folded.length > MAX_FOLDED) return undefined;
    }
  }
  return folded;
}

/**
 * Whether one insert of `valueSets` into `scoped`, on `runner`, can fold its reference check: one
 * plain row, a refusal that may fail the statement (not inside a PostgreSQL transaction of the
 * caller's: operation-transactions.ts), and a table with nothing that could let a row whose tenant
 * column the check left NULL through (fold-blockers.ts: known once the database was asked).
 */
export function canFold(
  scope: ScopeContext,
  scoped: ScopedEntity,
  valueSets: readonly ObjectLiteral[],
  map: InsertQueryBuilder<ObjectLiteral>['expressionMap'],
  runner: QueryRunner | undefined,
): boolean {
  return foldableInsert(scope, scoped, valueSets, map, runner) && foldAllowed(scope.registry, scoped.metadata) === true;
}

/** `canFold` before the database is asked about the table: whether this insert could fold, were its table known to allow it. */
function foldableInsert(
  scope: ScopeContext,
  scoped: ScopedEntity,
  valueSets: readonly ObjectLiteral[],
  map: InsertQueryBuilder<ObjectLiteral>['expressionMap'],
  runner: QueryRunner | undefined,
): boolean {
  return (
    valueSets.length === 1 &&
    !scoped.tenantTable &&
    !scoped.column.isNullable &&
    !map.onIgnore &&
    !map.onUpdate &&
    !map.insertFromSelect &&
    canFoldReferences(scope.registry) &&
    statementMayFail(runner)
  );
}

// The subquery's SQL depends only on the referenced entities (their order) and the Tenancy: kept,
// keyed by the entities' identity (two entities may share a name or, with single-table inheritance, a table).
const subquerySql = new WeakMap<ScopeRegistry, Map<string, string>>();
const entityKeys = new WeakMap<EntityMetadata, number>();
let nextEntityKey = 0;

function entityKey(metadata: EntityMetadata): number {
  let key = entityKeys.get(metadata);
  if (key === undefined) entityKeys.set(metadata, (key = nextEntityKey++));
  return key;
}

const parameterName = (index: number) => `tenancy_fold_${index}`;
const aliasName = (index: number) => `tenancy_ref_${index}`;

/**
 * The tenant column's value expression of a folded insert: the tenant id read from every referenced
 * row through the tenant scope (soft-deleted rows count), NULL when one is not the tenant's. Sets the
 * ids as parameters of `qb`.
 */
export function foldedTenantValue(qb: InsertQueryBuilder<ObjectLiteral>, scope: ScopeContext, folded: readonly FoldedReference[]): string {
  const registry = scope.registry;
  let byTargets = subquerySql.get(registry);
  if (!byTargets) subquerySql.set(registry, (byTargets = new Map()));
  const key = `${registry.appSideCriteria}:${folded.map((f) => entityKey(f.target)).join(',')}`;
  let sql = byTargets.get(key);
  if (sql === undefined) {
    const first = folded[0]!;
    const select = withScope(registry.dataSource.createQueryBuilder(), scope)
      .select(`${aliasName(0)}.${registry.scopedEntity(first.target)!.column.propertyPath}`)
      .from(first.target.target, aliasName(0))
      .withDeleted();
    folded.forEach((reference, index) => {
      if (index > 0) select.addFrom(reference.target.target, aliasName(index));
      select.andWhere(`${aliasName(index)}.${reference.target.primaryColumns[0]!.propertyPath} = :${parameterName(index)}`);
    });
    sql = `(${select.getQuery()})`;
    byTargets.set(key, sql);
  }
  folded.forEach((reference, index) => qb.setParameter(parameterName(index), reference.id));
  return sql;
}

/**
 * The refusal a failed folded insert stands for: the database refused the row because its tenant
 * column came out NULL (only the folded check can make it so: the library stamps it) — or, under
 * row-level security, because the policy refused that row. Otherwise `undefined`. With several
 * folded rows, which one it was is asked where the connection can still answer (SQLite; PostgreSQL
 * outside a transaction, which the failed statement aborted); otherwise the error names them all.
 */
export async function foldedRefusal(
  scope: ScopeContext,
  tenantColumn: ColumnMetadata,
  folded: readonly FoldedReference[],
  error: unknown,
  runner: QueryRunner | undefined,
): Promise<TenantMismatchError | undefined> {
  if (!(error instanceof QueryFailedError) || folded.length === 0) return undefined;
  const driverError = error.driverError as { code?: unknown; column?: unknown; message?: unknown } | undefined;
  const code = String(driverError?.code ?? '');
  const column = tenantColumn.databaseName;
  const nulled =
    (code === '23502' && driverError?.column === column) ||
    (code === 'SQLITE_CONSTRAINT_NOTNULL' && String(driverError?.message ?? error.message).endsWith(`.${column}`)) ||
    (code === '42501' && /row-level security/.test(error.message));
  if (!nulled) return undefined;
  const operation = 'insert';
  if (folded.length === 1) return referenceMismatch(scope, folded[0]!.relation, folded[0]!.id, operation, error);
  const sqlite = scope.registry.dataSource.driver.options.type === 'better-sqlite3';
  if (sqlite || !runner?.isTransactionActive) {
    const references: References = new Map();
    for (const { target, id, relation } of folded) references.set(target, (references.get(target) ?? new Map()).set(id, relation));
    const foreign = await findForeignReference(scope, references, runner).catch(() => undefined);
    if (foreign) return referenceMismatch(scope, foreign[1], foreign[0], operation, error);
  }
  const names = folded.map((f) => `${f.relation.entityMetadata.name}.${f.relation.propertyName} at ${f.target.name} ${describeValue(f.id)}`).join(', ');
  return refused(scope, new TenantMismatchError(
    `${operation} would point ${folded[0]!.relation.entityMetadata.name} at a row that is not a row of tenant ${String(scope.tenantId)}, one of: ${names}. ` +
      'Reference rows of the same tenant only (load them through this manager).',
    { entity: folded[0]!.relation.entityMetadata.name, operation, tenant: scope.tenantId, cause: error },
  ));
}
