import {
  DeleteQueryBuilder,
  InsertQueryBuilder,
  type DataSource,
  QueryFailedError,
  type ObjectLiteral,
  type QueryRunner,
  RelationQueryBuilder,
  SelectQueryBuilder,
  UpdateQueryBuilder,
} from 'typeorm';
import type { ReadStream } from 'typeorm/platform/PlatformTools.js';
import { TenantMismatchError, UnsafeQueryError } from '../errors.js';
import { SoftDeleteQueryBuilder } from '../internal/typeorm/deep-imports.js';
import { openScopedTransaction } from '../postgres/transaction-binding.js';
import { assertStatementAllowed } from '../postgres/raw-sql-guard.js';
import { failStreamOnConnectionLoss } from '../postgres/connection-hygiene.js';
import { type AnyQueryBuilder, assertEmbeddable, carryScope, type Erased, guardSubQueryFactory, scopedPrototypes, underTransactionBinding, withScope } from './scope-carrier.js';
import { resolveStringTarget } from './string-targets.js';
import { refuseTenantRowDelete, refuseTenantRowInsert } from './tenant-row-guard.js';
import { refused } from './refusal.js';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { RelationMetadata } from 'typeorm/metadata/RelationMetadata.js';
import { SCOPE, type ScopeCarrier, type ScopeContext, WRITE_PLAN } from './scope-context.js';
import { junctionTarget, junctionTenantCriterion, scopedTarget, tenantCriterion } from './tenant-criterion.js';
import { assertJunctionRowsInTenant } from './junction-guard.js';
import { keysFreed, knownRowsClock, rememberIds, unknownIds } from './known-rows.js';
import { tenantForeignKeyError } from './enforced-references.js';
import { runnerOf } from '../internal/typeorm/instance-members.js';
import { guardTenantUnchanged, stampTenant } from './write-guard.js';
import { renderGuardedUpsert } from './upsert-guard.js';
import { loadRelationInScope } from './relation-loading.js';
import { assertRelationValuesInTenant, needsReferenceCheck, ReferenceCheck } from './reference-guard.js';
import { canFold, canFoldReferences, foldableReferences, type FoldedReference, foldedRefusal, foldedTenantValue } from './folded-reference-check.js';
import { keepsEveryRow, learnFoldBlockers, replacesRows, tableAnswered } from './fold-blockers.js';
import type { ScopedEntity } from './scope-registry.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- TypeORM's own signatures use any */

/** True when the builder's operations run in a transaction bound to the tenant (RLS, schema strategy). */
function binds(qb: ScopeCarrier): boolean {
  return qb[SCOPE]?.registry.bindsTransactions === true;
}

// One scoped class per TypeORM builder kind. Builders get their class by
// prototype swap in withScope(), so these classes add no instance fields.

/** Select: the tenant criterion goes into the ON clause of every scoped join, at render time. */
class ScopedSelectQueryBuilder extends carryScope(SelectQueryBuilder as Erased<SelectQueryBuilder<any>>) {
  protected override join(direction: 'INNER' | 'LEFT', entityOrProperty: any, aliasName: string, ...rest: any[]): void {
    const scope = this[SCOPE];
    const operation = direction === 'LEFT' ? 'leftJoin' : 'innerJoin';
    const target = guardSubQueryFactory(scope, resolveStringTarget(scope, entityOrProperty, operation, true), `${operation}(subquery)`);
    (super.join as (...a: any[]) => void)(direction, target, aliasName, ...rest);
  }

  override addSelect(...args: any[]): this {
    if (typeof args[0] === 'function') args[0] = guardSubQueryFactory(this[SCOPE], args[0], 'addSelect(subquery)');
    return (super.addSelect as (...a: any[]) => this)(...args);
  }

  // Relation ids and query-strategy relations are loaded with builders TypeORM takes from the
  // DataSource with this query's runner: a runner of the tenant operation (see obtainQueryRunner).
  // (Without lazy relations nothing is remembered: TypeORM's promise is returned as it is.)
  protected override executeEntitiesAndRawResults(queryRunner: QueryRunner): Promise<any> {
    const loaded = (super.executeEntitiesAndRawResults as (qr: QueryRunner) => Promise<{ entities: any[]; raw: any[] }>).call(this, queryRunner);
    const scope = this[SCOPE];
    const map = this.expressionMap;
    if (!scope?.registry.lazyRelations || !map.mainAlias?.hasMetadata) return loaded;
    const metadata = map.mainAlias.metadata;
    return loaded.then((result) => {
      scope.registry.rememberLoaded(metadata, result.entities, scope);
      return result;
    });
  }

  protected override createJoinExpression(): string {
    const scope = this[SCOPE];
    if (!scope?.safe || this.expressionMap.joinAttributes.length === 0) return super.createJoinExpression();
    const changed: Array<[{ condition?: string }, string | undefined]> = [];
    try {
      for (const join of this.expressionMap.joinAttributes) {
        if (!scope?.safe || !join.metadata) continue;
        const scoped = scopedTarget(scope, join.metadata, 'join');
        const sides = scoped ? undefined : junctionTarget(scope, join.metadata, 'join');
        if ((!scoped && !sides) || !scope.registry.appSideCriteria) continue;
        const criterion = scoped ? tenantCriterion(scoped, join.alias.name) : junctionTenantCriterion(join.metadata, sides!, this.escape(join.alias.name));
        changed.push([join, join.condition]);
        join.condition = join.condition ? `(${join.condition}) AND ${criterion}` : criterion;
      }
      return super.createJoinExpression();
    } finally {
      for (const [join, condition] of changed) join.condition = condition;
    }
  }

  override getRawOne<T = any>(): Promise<T | undefined> {
    return binds(this) ? underTransactionBinding(this, () => super.getRawOne<T>(), (b) => b.getRawOne<T>()) : super.getRawOne<T>();
  }
  override getRawMany<T = any>(): Promise<T[]> {
    return binds(this) ? underTransactionBinding(this, () => super.getRawMany<T>(), (b) => b.getRawMany<T>()) : super.getRawMany<T>();
  }
  override getRawAndEntities<T = any>(): Promise<{ entities: any[]; raw: T[] }> {
    return binds(this) ? underTransactionBinding(this, () => super.getRawAndEntities<T>(), (b) => b.getRawAndEntities<T>()) : super.getRawAndEntities<T>();
  }
  override getOne(): Promise<any> {
    return binds(this) ? underTransactionBinding(this, () => super.getOne(), (b) => b.getOne()) : super.getOne();
  }
  override getOneOrFail(): Promise<any> {
    return binds(this) ? underTransactionBinding(this, () => super.getOneOrFail(), (b) => b.getOneOrFail()) : super.getOneOrFail();
  }
  override getMany(): Promise<any[]> {
    return binds(this) ? underTransactionBinding(this, () => super.getMany(), (b) => b.getMany()) : super.getMany();
  }
  override getCount(): Promise<number> {
    return binds(this) ? underTransactionBinding(this, () => super.getCount(), (b) => b.getCount()) : super.getCount();
  }
  override getExists(): Promise<boolean> {
    return binds(this) ? underTransactionBinding(this, () => super.getExists(), (b) => b.getExists()) : super.getExists();
  }
  override getManyAndCount(): Promise<[any[], number]> {
    return binds(this) ? underTransactionBinding(this, () => super.getManyAndCount(), (b) => b.getManyAndCount()) : super.getManyAndCount();
  }

  // A stream outlives the call: its transaction ends when the stream does.
  override async stream(): Promise<ReadStream> {
    const scope = this[SCOPE];
    // A stream's statement bypasses TypeORM's query events, where the raw SQL guard looks: vetted here.
    if (scope?.registry.bindsTransactions) await assertStatementAllowed(this.getQueryAndParameters()[0], { operation: 'stream', tenant: scope.tenantId });
    if (!scope?.registry.bindsTransactions || this.queryRunner?.isTransactionActive) {
      const stream = await underTransactionBinding(this, () => super.stream(), (b) => b.stream());
      if (this.queryRunner) failStreamOnConnectionLoss(this.queryRunner, stream);
      return stream;
    }
    const { runner, finish } = await openScopedTransaction(scope.registry, scope);
    try {
      const stream = await this.clone().setQueryRunner(runner).stream();
      failStreamOnConnectionLoss(runner, stream);
      stream.once('end', () => void finish(true));
      stream.once('error', () => void finish(false));
      stream.once('close', () => void finish(true));
      return stream;
    } catch (error) {
      await finish(false);
      throw error;
    }
  }

  // An explicit cache id replaces the SQL as the cache key: it must name the tenant. A bypass in a
  // tenant's own schema, database or shard has the same SQL as every other tenant's bypass.
  override cache(enabledOrMillisecondsOrId: boolean | number | string, maybeMilliseconds?: number): this {
    const scope = this[SCOPE];
    const ownStorage = scope !== undefined && (scope.registry.schemas !== undefined || scope.registry.routedStorage);
    const perTenant = scope !== undefined && scope.tenantId !== undefined && (scope.safe || ownStorage);
    if (ownStorage && !scope.safe && typeof enabledOrMillisecondsOrId !== 'string' && enabledOrMillisecondsOrId !== false) {
      throw new UnsafeQueryError(
        "A { safe: false } query in a tenant's own schema, database or shard has the same SQL as every other tenant's: " +
          'give its cache an id, cache("my-id", ms), which is kept per tenant.',
        { operation: 'cache', tenant: scope.tenantId },
      );
    }
    const id = typeof enabledOrMillisecondsOrId === 'string' && perTenant
      ? `tenancy:${String(scope.tenantId)}:${enabledOrMillisecondsOrId}`
      : enabledOrMillisecondsOrId;
    return super.cache(id as string, maybeMilliseconds);
  }
}

// Builders get their class by prototype swap, so no #private members on them (brand checks fail).
function insertTarget(qb: InsertQueryBuilder<any> & ScopeCarrier) {
  const map = qb.expressionMap;
  return map.mainAlias?.hasMetadata ? scopedTarget(qb[SCOPE], map.mainAlias.metadata, 'insert') : undefined;
}

/** Insert: stamps the tenant, refuses foreign ids, guards upserts and INSERT ... SELECT. */
class ScopedInsertQueryBuilder extends carryScope(InsertQueryBuilder as Erased<InsertQueryBuilder<any>>) {

  protected override getValueSets(): ObjectLiteral[] {
    const valueSets = super.getValueSets();
    const scoped = insertTarget(this);
    const operation = this.expressionMap.onUpdate ? 'upsert' : 'insert';
    if (scoped?.tenantTable) refuseTenantRowInsert(valueSets, scoped, this[SCOPE]!, operation);
    else if (scoped) stampTenant(valueSets, scoped, this[SCOPE]!, operation);
    return valueSets;
  }

  // INSERT ... SELECT embeds the select's SQL: into a shared table too, it must not read other tenants.
  override valuesFromSelect(queryBuilderOrFactory: any): this {
    const scope = this[SCOPE];
    const source = typeof queryBuilderOrFactory === 'function' ? guardSubQueryFactory(scope, queryBuilderOrFactory, 'valuesFromSelect') : queryBuilderOrFactory;
    if (typeof source !== 'function') assertEmbeddable(scope, source, 'valuesFromSelect');
    return super.valuesFromSelect(source as never);
  }

  protected override getInsertedColumns(): any[] {
    const columns = super.getInsertedColumns();
    const scoped = insertTarget(this);
    return scoped && !columns.includes(scoped.column) ? [...columns, scoped.column] : columns;
  }

  protected override createInsertExpression(): string {
    const scoped = insertTarget(this);
    if (!scoped) return super.createInsertExpression();
    const scope = this[SCOPE]!;
    if (this.expressionMap.insertFromSelect) {
      throw new UnsafeQueryError(
        `INSERT ... SELECT into tenant-scoped ${scoped.metadata.name} cannot be scoped: the rows come from SQL the library does not see. ` +
          'Select the rows with the tenant manager and insert them with insert()/save(), or pass { safe: false } on purpose.',
        { entity: scoped.metadata.name, operation: 'valuesFromSelect', tenant: scope.tenantId },
      );
    }
    if (!this.expressionMap.onUpdate) return super.createInsertExpression();
    return renderGuardedUpsert(this, scoped, scope, () => super.createInsertExpression());
  }

  // A one-row insert that folds its reference check renders it as the tenant column's value.
  // A checked insert makes sure the rows it renders name only the rows checked (TypeORM's
  // beforeInsert listeners run between the check and the render).
  protected override createColumnValueExpression(valueSets: ObjectLiteral[], valueSetIndex: number, column: any): string {
    const plan = planOf(this);
    if (plan) {
      const scoped = insertTarget(this);
      if (scoped && column === scoped.column) {
        if (plan.checked) assertRowChecked(this, scoped, valueSets[valueSetIndex]!, plan.checked);
        else if (plan.fold) {
          const folded = foldedFor(this, plan, scoped, valueSets);
          if (folded.length > 0) return foldedTenantValue(this, this[SCOPE]!, folded);
        }
      }
    }
    return super.createColumnValueExpression(valueSets, valueSetIndex, column);
  }

  // With preparedReferenceChecks, an insert that carries its check is sent as a named prepared
  // statement (prepared-statements.ts): its sub-select is planned once per connection.
  override getQueryAndParameters(): [string, any[]] {
    const rendered = super.getQueryAndParameters();
    const names = this[SCOPE]?.registry.statementNames;
    if (names && planOf(this)?.folded?.length) names.register(rendered[0]);
    return rendered;
  }

  // The references of the rows it writes are checked here, whoever built the insert (a manager,
  // persistence through `runner.manager.insert`, a query builder): folded into a one-row insert, or
  // one check statement before it (reference-query.ts). Inside the binding: once per execution.
  override executeBound(): Promise<any> {
    const scoped = insertTarget(this);
    const checked = () =>
      refuseReplacingTable(this, scoped, 'insert') ?? afterReferenceCheck(this, () => insertReferenceCheck(this, () => this.getValueSets()), () => super.executeBound());
    const question = insertQuestion(this, scoped, () => this.getValueSets());
    return question ? question.then(checked) : checked();
  }

  // (A promise chain rather than an async method: one promise less on every insert.)
  override execute(): Promise<any> {
    const map = this.expressionMap;
    const sides = map.mainAlias?.hasMetadata && !insertTarget(this) ? junctionTarget(this[SCOPE], map.mainAlias.metadata, 'insert') : undefined;
    // Read before anything is asked or written: a key freed meanwhile makes what the insert vouches for stale.
    const asOf = knownRowsClock();
    const run = () => super.execute().then((result: any) => rememberInserted(this, result, asOf), (error: unknown) => insertFailed(this, error, () => this.getValueSets()));
    if (sides && !map.insertFromSelect) {
      return assertJunctionRowsInTenant(this[SCOPE]!, map.mainAlias!.metadata, sides, this.getValueSets(), scopedSelect(this), usableRunner(this)).then(run);
    }
    return run();
  }

}

/**
 * What an execution of an insert or update planned about references, for its render (kept on the
 * builder: a field every builder has, cheaper than a WeakMap entry per write).
 */
interface ReferencePlan {
  /** Checked by a statement before the write (or nothing to check): the rendered rows may name no other row. */
  readonly checked?: ReferenceCheck;
  /** The insert carries its check (folded-reference-check.ts). */
  readonly fold?: true;
  /** The folded references, when final at plan time; else taken from the row as rendered. */
  folded?: readonly FoldedReference[];
}

function planOf(qb: ScopeCarrier): ReferencePlan | undefined {
  return qb[WRITE_PLAN] as ReferencePlan | undefined;
}

/**
 * Plans a write's reference check (`plan`, which may refuse at once) and runs the statement
 * (`run`): at once when nothing is to be asked first, else after the check, with the checked rows
 * recorded for the render.
 */
function afterReferenceCheck(qb: AnyQueryBuilder & ScopeCarrier, plan: () => ReferenceCheck | undefined, run: () => Promise<any>): Promise<any> {
  let check: ReferenceCheck | undefined;
  try {
    check = plan();
  } catch (error) {
    return Promise.reject(error);
  }
  if (!check) return run();
  return check.verify(usableRunner(qb)).then(() => {
    qb[WRITE_PLAN] = { checked: check } satisfies ReferencePlan;
    return run();
  });
}

/** The check an update must run first for the relations it sets (none when the database or known rows cover them). */
function updateReferenceCheck(qb: UpdateQueryBuilder<any> & ScopeCarrier): ReferenceCheck | undefined {
  qb[WRITE_PLAN] = undefined;
  const scope = qb[SCOPE];
  const map = qb.expressionMap;
  const scoped = map.mainAlias?.hasMetadata ? scope?.registry.scopedEntity(map.mainAlias.metadata) : undefined;
  const values = map.valuesSet;
  if (!scope?.safe || scope.tenantId === undefined || !scoped || !values || typeof values !== 'object') return undefined;
  if (!needsReferenceCheck(scope, scoped.metadata, [values])) {
    // Nothing to check now; a beforeUpdate listener could still add a relation: the render holds the row to none.
    if (listenersMayChange(qb, scoped.metadata.beforeUpdateListeners.length > 0)) qb[WRITE_PLAN] = { checked: new ReferenceCheck(scope, 'update') } satisfies ReferencePlan;
    return undefined;
  }
  return new ReferenceCheck(scope, 'update').add(scoped.metadata, [values as ObjectLiteral]);
}

/** Refuses a row that names a row its check did not look at (nor known on the runner). */
function assertRowChecked(qb: (InsertQueryBuilder<any> | UpdateQueryBuilder<any>) & ScopeCarrier, scoped: ScopedEntity, row: ObjectLiteral, checked: ReferenceCheck): void {
  const scope = qb[SCOPE]!;
  const now = new ReferenceCheck(scope, checked.operation).add(scoped.metadata, [row]);
  for (const [target, ids] of now.references) {
    const before = checked.references.get(target);
    const seen = new Set([...(before?.keys() ?? [])].map(String));
    const unchecked = unknownIds(usableRunner(qb), scope, target, [...ids.keys()].filter((id) => !seen.has(String(id))));
    if (unchecked.length > 0) {
      throw refused(scope, new UnsafeQueryError(
        `${checked.operation} of tenant-scoped ${scoped.metadata.name}: a row was changed after its references were checked (a before-insert or before-update listener?) to name ${target.name} ${String(unchecked[0])}. Nothing was written.`,
        { entity: scoped.metadata.name, operation: checked.operation, tenant: scope.tenantId },
      ));
    }
  }
}

/**
 * Plans the reference check of an insert about to run: `undefined` when nothing needs asking (no
 * references, references the database checks, a bypass) or when the insert folds the check into
 * itself; otherwise the check to run first. Refuses a related object of another tenant at once.
 */
function insertReferenceCheck(qb: InsertQueryBuilder<any> & ScopeCarrier, rows: () => ObjectLiteral[]): ReferenceCheck | undefined {
  qb[WRITE_PLAN] = undefined;
  const scope = qb[SCOPE];
  const scoped = insertTarget(qb);
  if (!scope?.safe || scope.tenantId === undefined || !scoped || scoped.tenantTable || qb.expressionMap.insertFromSelect) return undefined;
  const valueSets = rows();
  const operation = qb.expressionMap.onUpdate ? 'upsert' : 'insert';
  const watched = listenersMayChange(qb, scoped.metadata.beforeInsertListeners.length > 0);
  if (!needsReferenceCheck(scope, scoped.metadata, valueSets)) {
    // Nothing to check now; a beforeInsert listener could still add a relation: the render holds the rows to none.
    if (watched) qb[WRITE_PLAN] = { checked: new ReferenceCheck(scope, operation) } satisfies ReferencePlan;
    return undefined;
  }
  const check = new ReferenceCheck(scope, operation).add(scoped.metadata, valueSets);
  const runner = usableRunner(qb);
  const folded = canFold(scope, scoped, valueSets, qb.expressionMap, runner) ? foldableReferences(scope, check, runner) : undefined;
  if (folded) {
    // Nothing can change the row before it is rendered (no beforeInsert listener runs): the plan is final.
    qb[WRITE_PLAN] = (watched ? { fold: true } : { fold: true, folded }) satisfies ReferencePlan;
    return undefined;
  }
  return check;
}

/**
 * Before a table's first write through the tenant scope (row level, PostgreSQL and SQLite), the
 * question of fold-blockers.ts, once per table; afterwards nothing. Its answer decides whether an
 * insert may fold its reference check, whether the ids an insert reports are rows it wrote
 * (rememberInserted), on SQLite whether the re-select of generated columns by the connection's last
 * insert id may skip the tenant scope (scope-carrier.ts, needsRunnerScope), and whether the table's
 * ON CONFLICT REPLACE refuses the write (refuseReplacingTable).
 */
function tableQuestion(qb: AnyQueryBuilder & ScopeCarrier, scoped: ScopedEntity | undefined): Promise<void> | undefined {
  const scope = qb[SCOPE];
  if (!scoped || scoped.tenantTable || !scope?.safe || scope.tenantId === undefined || !canFoldReferences(scope.registry)) return undefined;
  if (tableAnswered(scope.registry, scoped.metadata)) return undefined;
  return learnFoldBlockers(scope.registry, scoped, usableRunner(qb));
}

/** An insert asks before its table's first insert — not an INSERT ... SELECT, nor one its plan refuses (nothing is sent). */
function insertQuestion(qb: InsertQueryBuilder<any> & ScopeCarrier, scoped: ScopedEntity | undefined, rows: () => ObjectLiteral[]): Promise<void> | undefined {
  if (!scoped || qb.expressionMap.insertFromSelect || tableAnswered(qb[SCOPE]!.registry, scoped.metadata)) return undefined;
  try {
    rows();
  } catch {
    return undefined;
  }
  return tableQuestion(qb, scoped);
}

/**
 * Whether TypeORM runs before-insert/update listeners (the entity's own, or subscribers other than
 * the library's) between the plan of a write and its render: they may change the rows.
 */
function listenersMayChange(qb: AnyQueryBuilder & ScopeCarrier, entityListeners: boolean): boolean {
  return qb.expressionMap.callListeners && (entityListeners || qb[SCOPE]!.registry.hasForeignSubscribers());
}

/**
 * The references a folding insert checks, taken from the row as it is rendered (after TypeORM's
 * beforeInsert listeners): a row changed since the plan into one that cannot be folded is refused.
 */
function foldedFor(qb: InsertQueryBuilder<any> & ScopeCarrier, plan: ReferencePlan, scoped: ScopedEntity, valueSets: ObjectLiteral[]): readonly FoldedReference[] {
  if (plan.folded) return plan.folded;
  const scope = qb[SCOPE]!;
  const check = new ReferenceCheck(scope, 'insert').add(scoped.metadata, valueSets);
  const runner = usableRunner(qb);
  const folded = canFold(scope, scoped, valueSets, qb.expressionMap, runner) ? foldableReferences(scope, check, runner) : undefined;
  if (!folded) {
    throw refused(scope, new UnsafeQueryError(
      `insert into tenant-scoped ${scoped.metadata.name}: its references changed after they were planned (a beforeInsert listener?) into a form that cannot be checked in the statement. Nothing was written.`,
      { entity: scoped.metadata.name, operation: 'insert', tenant: scope.tenantId },
    ));
  }
  plan.folded = folded;
  return folded;
}

/** What a failed insert throws: a refusal the database made on the tenant's behalf, as a TenantMismatchError. */
async function insertFailed(qb: InsertQueryBuilder<any> & ScopeCarrier, error: unknown, valueSets: () => ObjectLiteral[]): Promise<never> {
  const scope = qb[SCOPE];
  const map = qb.expressionMap;
  const scoped = insertTarget(qb);
  const folded = planOf(qb)?.folded;
  const refusal = folded && scoped ? await foldedRefusal(scope!, scoped.column, folded, error, usableRunner(qb)) : undefined;
  if (refusal) throw refusal;
  // Under row-level security PostgreSQL 15 refuses ON CONFLICT DO UPDATE on a row the policy
  // hides (rather than skipping it): the conflicting row is another tenant's.
  if (scoped && scope?.registry.rls && map.onUpdate && isRowLevelSecurityViolation(error)) {
    throw new TenantMismatchError(
      `upsert on tenant-scoped ${scoped.metadata.name}: the conflicting row belongs to another tenant, and row-level security refused to update it. Nothing was written.`,
      { entity: scoped.metadata.name, operation: 'upsert', tenant: scope.tenantId, cause: error },
    );
  }
  if (scoped && !scoped.tenantTable) throw (await tenantForeignKeyError(scope!, scoped.metadata, error, valueSets(), map.onUpdate ? 'upsert' : 'insert', scopedSelect(qb))) ?? error;
  throw error;
}

/** The builder's runner while it can still run statements (a lookup after an error, a check before). */
function usableRunner(qb: object): QueryRunner | undefined {
  const runner = runnerOf(qb);
  return runner && !runner.isReleased ? runner : undefined;
}

/** A scoped select of another entity, on the builder's runner: for checks that belong to its write. */
function scopedSelect(qb: (InsertQueryBuilder<any> | UpdateQueryBuilder<any>) & ScopeCarrier) {
  return (target: EntityMetadata) => withScope(qb.connection.createQueryBuilder(target.target, 'ref', usableRunner(qb)), qb[SCOPE]);
}

/**
 * Rows a tenant inserts (a plain insert: an upsert's ids may be stale on some drivers) are its
 * own: a check of them later on the same runner needs no query (known-rows.ts).
 */
function rememberInserted(qb: InsertQueryBuilder<any> & ScopeCarrier, result: any, asOf: number): any {
  const scoped = insertTarget(qb);
  const metadata = scoped?.metadata;
  const runner = runnerOf(qb);
  // The rows a folded check found are the tenant's too.
  const folded = planOf(qb)?.folded;
  if (folded && runner) for (const { target, id } of folded) rememberIds(runner, qb[SCOPE]!, target, [id], asOf);
  if (metadata && !scoped.tenantTable && !metadata.hasMultiplePrimaryKeys && runner && wroteReportedRows(qb, scoped)) {
    const key = metadata.primaryColumns[0]!;
    rememberIds(runnerOf(qb), qb[SCOPE]!, metadata, (result?.identifiers ?? []).map((id: ObjectLiteral) => id && key.getEntityValue(id)), asOf);
  }
  return result;
}

/**
 * Whether the ids an insert reports are rows it wrote. Not after OR IGNORE (a given id, or on SQLite
 * the connection's last insert id, is reported for a row it skipped: possibly another tenant's) or
 * an upsert; nor on a table that can drop a row without an error (a trigger, rule, view or, on SQLite,
 * ON CONFLICT clause: fold-blockers.ts) or that the database was not asked about. MySQL and MariaDB
 * drop rows only under IGNORE.
 */
function wroteReportedRows(qb: InsertQueryBuilder<any> & ScopeCarrier, scoped: ScopedEntity): boolean {
  const map = qb.expressionMap;
  if (map.onIgnore || map.onUpdate) return false;
  const type = scoped.metadata.connection.driver.options.type;
  return type === 'mysql' || type === 'mariadb' || keepsEveryRow(qb[SCOPE]!.registry, scoped.metadata);
}

function isRowLevelSecurityViolation(error: unknown): boolean {
  const driverError = error instanceof QueryFailedError ? (error.driverError as { code?: unknown } | undefined) : undefined;
  return driverError?.code === '42501' && /row-level security/.test(error instanceof Error ? error.message : '');
}

/** Update: WHERE is scoped by the carrier; the tenant column itself may not change. */
class ScopedUpdateQueryBuilder extends carryScope(UpdateQueryBuilder as Erased<UpdateQueryBuilder<any>>) {
  protected override createUpdateExpression(): string {
    const map = this.expressionMap;
    const scoped = map.mainAlias?.hasMetadata ? scopedTarget(this[SCOPE], map.mainAlias.metadata, 'update') : undefined;
    if (scoped) {
      guardTenantUnchanged(map.valuesSet, scoped, this[SCOPE]!, 'update');
      const checked = planOf(this)?.checked;
      if (checked && map.valuesSet && typeof map.valuesSet === 'object') assertRowChecked(this, scoped, map.valuesSet as ObjectLiteral, checked);
    } else if (map.mainAlias?.hasMetadata && junctionTarget(this[SCOPE], map.mainAlias.metadata, 'update')) {
      throw refused(this[SCOPE], new UnsafeQueryError(
        `update of ${map.mainAlias.metadata.name} would re-point links between tenant-scoped rows. Use relation().addAndRemove() (checked), or { safe: false } on purpose.`,
        { entity: map.mainAlias.metadata.name, operation: 'update', tenant: this[SCOPE]!.tenantId },
      ));
    }
    return super.createUpdateExpression();
  }

  // The references the update writes are checked here, whoever built it: a manager's update(),
  // persistence (save() of an existing row, cascades included), relation().set, a query builder.
  override executeBound(): Promise<any> {
    const scoped = updateTarget(this);
    const checked = () => refuseReplacingTable(this, scoped, 'update') ?? afterReferenceCheck(this, () => updateReferenceCheck(this), () => super.executeBound());
    const question = updateQuestion(this, scoped);
    return question ? question.then(checked) : checked();
  }

  // A composite tenant key refusing a relation set to another tenant's row: a TenantMismatchError.
  // (Only an update that sets such a relation can meet one: the others run as they are.)
  override execute(): Promise<any> {
    const map = this.expressionMap;
    const values = map.valuesSet;
    const metadata = map.mainAlias?.hasMetadata ? map.mainAlias.metadata : undefined;
    // A changed primary key frees the old one, as a delete does (known-rows.ts).
    if (metadata && values && typeof values === 'object' && metadata.primaryColumns.some((c) => c.getEntityValue(values as ObjectLiteral) !== undefined)) {
      return this.executeChecked().finally(() => keysFreed(metadata, runnerOf(this)));
    }
    return this.executeChecked();
  }

  private executeChecked(): Promise<any> {
    const map = this.expressionMap;
    const scope = this[SCOPE];
    const scoped = map.mainAlias?.hasMetadata ? scope?.registry.scopedEntity(map.mainAlias.metadata) : undefined;
    const values = map.valuesSet;
    if (!scoped || !values || typeof values !== 'object' || !setsEnforcedRelation(scope!, scoped.metadata, values as ObjectLiteral)) return super.execute();
    return super.execute().catch(async (error: unknown) => {
      throw (await tenantForeignKeyError(scope!, scoped.metadata, error, [values as ObjectLiteral], 'update', scopedSelect(this))) ?? error;
    });
  }
}

/** Whether `values` sets a relation whose composite tenant key the database checks (by property or join column). */
function setsEnforcedRelation(scope: ScopeContext, metadata: EntityMetadata, values: ObjectLiteral): boolean {
  for (const [relation] of scope.registry.enforcedRelationsOf(metadata)) {
    for (const key of relationKeys(relation)) if (values[key] !== undefined) return true;
  }
  return false;
}

const keysOfRelation = new WeakMap<RelationMetadata, readonly string[]>();

/** The keys an update can set a relation by: its property, and every column on its join column (an `authorId` column too). */
function relationKeys(relation: RelationMetadata): readonly string[] {
  let keys = keysOfRelation.get(relation);
  if (!keys) {
    const join = relation.joinColumns[0]!;
    const columns = relation.entityMetadata.columns.filter((c) => c.databaseName === join.databaseName);
    keys = [...new Set([relation.propertyName, join.databaseName, ...columns.flatMap((c) => [c.propertyName, c.propertyPath])])];
    keysOfRelation.set(relation, keys);
  }
  return keys;
}

/** Delete: WHERE is scoped by the carrier; a tenant cannot delete tenant rows. */
class ScopedDeleteQueryBuilder extends carryScope(DeleteQueryBuilder as Erased<DeleteQueryBuilder<any>>) {
  protected override createDeleteExpression(): string {
    refuseTenantRowDelete(this, 'delete');
    return super.createDeleteExpression();
  }

  // A deleted key may come back as another tenant's row: no runner trusts what it knew of the table
  // (known-rows.ts), marked once the rows are gone (and again when a transaction of the delete ends).
  override execute(): Promise<any> {
    const metadata = this.expressionMap.mainAlias?.hasMetadata ? this.expressionMap.mainAlias.metadata : undefined;
    return metadata ? super.execute().finally(() => keysFreed(metadata, runnerOf(this))) : super.execute();
  }
}

class ScopedSoftDeleteQueryBuilder extends carryScope(SoftDeleteQueryBuilder as Erased<SoftDeleteQueryBuilder<any>>) {
  protected override createUpdateExpression(): string {
    if (this.expressionMap.queryType === 'soft-delete') refuseTenantRowDelete(this, 'softDelete');
    return super.createUpdateExpression();
  }

  // An update of the delete date can conflict on a unique key too.
  override executeBound(): Promise<any> {
    const scoped = updateTarget(this);
    const operation = this.expressionMap.queryType === 'soft-delete' ? 'softDelete' : 'restore';
    const checked = () => refuseReplacingTable(this, scoped, operation) ?? super.executeBound();
    const question = updateQuestion(this, scoped);
    return question ? question.then(checked) : checked();
  }
}

/** The scoped entity an update-kind builder (update, soft delete, restore) writes, if any. */
function updateTarget(qb: AnyQueryBuilder & ScopeCarrier): ScopedEntity | undefined {
  const map = qb.expressionMap;
  const scoped = map.mainAlias?.hasMetadata ? qb[SCOPE]?.registry.scopedEntity(map.mainAlias.metadata) : undefined;
  return scoped && !scoped.tenantTable ? scoped : undefined;
}

/** An update (soft delete, restore) asks on SQLite only, the one database with ON CONFLICT REPLACE; an insert asks anyway. */
function updateQuestion(qb: AnyQueryBuilder & ScopeCarrier, scoped: ScopedEntity | undefined): Promise<void> | undefined {
  return qb[SCOPE]?.registry.sharedRunners ? tableQuestion(qb, scoped) : undefined;
}

/**
 * A write through the tenant scope into a SQLite table with an ON CONFLICT REPLACE clause: SQLite
 * resolves a conflict with any row by deleting it, another tenant's too (an insert given another
 * tenant's id, or its value of a unique column, deletes that tenant's row). Refused (a rejected
 * promise) before anything is sent; `undefined` for every other table.
 */
function refuseReplacingTable(qb: AnyQueryBuilder & ScopeCarrier, scoped: ScopedEntity | undefined, operation: string): Promise<never> | undefined {
  const scope = qb[SCOPE];
  const replaces = scoped && scope?.safe ? replacesRows(scope.registry, scoped.metadata) : undefined;
  if (!scoped || !scope || (replaces !== true && replaces !== 'unknown')) return undefined;
  const what = replaces === true ? 'has an ON CONFLICT REPLACE clause' : 'could not be asked whether it has an ON CONFLICT REPLACE clause (the catalog question failed)';
  return Promise.reject(refused(scope, new UnsafeQueryError(
    `${operation} of ${scoped.metadata.name}: its table ${scoped.metadata.tablePath} ${what}; with one, SQLite would delete any row the write ` +
      "conflicts with on a unique key — another tenant's too. Recreate the table without the clause, or pass { safe: false } on purpose.",
    { entity: scoped.metadata.name, operation, tenant: scope.tenantId },
  )));
}

/** Relation: loads go through the scope-aware loader with this builder's scope. */
class ScopedRelationQueryBuilder extends carryScope(RelationQueryBuilder as Erased<RelationQueryBuilder<any>>) {
  override async loadMany<T = any>(): Promise<T[]> {
    const map = this.expressionMap;
    let of = map.of;
    if (of === null || typeof of !== 'object') of = map.mainAlias!.metadata.primaryColumns[0]!.createValueMap(of);
    return loadRelationInScope(this.dataSource, map.relationMetadata, of, this.queryRunner, this[SCOPE]) as Promise<T[]>;
  }

  override async loadOne<T = any>(): Promise<T | undefined> {
    return (await this.loadMany<T>())[0];
  }

  // Writes that point a relation (or a junction row) at rows must stay in the tenant.
  override async set(value: any): Promise<void> {
    await assertRelationValuesInTenant(this[SCOPE]!, this.expressionMap.relationMetadata, this.expressionMap.of, [value], 'relation().set', this.queryRunner);
    return super.set(value);
  }
  override async add(value: any): Promise<void> {
    await assertRelationValuesInTenant(this[SCOPE]!, this.expressionMap.relationMetadata, this.expressionMap.of, [value].flat(), 'relation().add', this.queryRunner);
    return super.add(value);
  }
}

for (const [kind, prototype] of [
  [Symbol.for('SelectQueryBuilder'), ScopedSelectQueryBuilder.prototype],
  [Symbol.for('InsertQueryBuilder'), ScopedInsertQueryBuilder.prototype],
  [Symbol.for('UpdateQueryBuilder'), ScopedUpdateQueryBuilder.prototype],
  [Symbol.for('DeleteQueryBuilder'), ScopedDeleteQueryBuilder.prototype],
  [Symbol.for('SoftDeleteQueryBuilder'), ScopedSoftDeleteQueryBuilder.prototype],
  [Symbol.for('RelationQueryBuilder'), ScopedRelationQueryBuilder.prototype],
] as const) {
  scopedPrototypes.set(kind, prototype);
}

export { withScope };


/**
 * A new scoped select builder, constructed as the scoped class (no prototype swap):
 * the path every tenant manager query starts from.
 */
export function newScopedSelect(dataSource: DataSource, queryRunner: QueryRunner | undefined, scope: ScopeContext): SelectQueryBuilder<any> {
  const qb = new ScopedSelectQueryBuilder(dataSource, queryRunner);
  qb[SCOPE] = scope;
  return qb;
}
