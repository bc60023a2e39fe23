import type { ObjectLiteral, QueryBuilder, QueryRunner } from 'typeorm';
import { UnsafeQueryError } from '../errors.js';
import { carryFindState, runnerOf } from '../internal/typeorm/instance-members.js';
import { inScopedTransaction } from '../postgres/transaction-binding.js';
import { SCOPE, type ScopeCarrier, type ScopeContext, scopeOf, WRITE_PLAN } from './scope-context.js';
import { assertStringTablesKnown, resolveStringTarget } from './string-targets.js';
import { tenantRunner } from './runner-scope.js';
import { keepsEveryRow } from './fold-blockers.js';
import type { ScopeRegistry } from './scope-registry.js';
import { junctionTarget, junctionTenantCriterion, scopedTarget, TENANT_PARAMETER, tenantCriterion } from './tenant-criterion.js';
import { refused } from './refusal.js';
import { escapeWithBoundIntegers } from './statement-parameters.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- mixin constructors must take any[] (TS2545) */
export type AnyQueryBuilder = QueryBuilder<any>;
type QueryBuilderClass = abstract new (...args: any[]) => AnyQueryBuilder;
/** A builder class with its generic constructor erased, so it can be a mixin base. */
export type Erased<Q> = new (...args: any[]) => Q;

/**
 * Carries a scope through everything TypeORM derives from a builder: clones,
 * `createQueryBuilder()` (subqueries, Brackets) and transitions to the other
 * builder kinds (which TypeORM builds from a global registry). Renders the tenant
 * criterion of every FROM alias in WHERE; the tenant value is added at render time
 * in `getParameters()`, like TypeORM's own discriminator parameter.
 */
export function carryScope<TBase extends QueryBuilderClass>(Base: TBase): TBase & (abstract new (...args: any[]) => ScopeCarrier & { executeBound(): Promise<any> }) {
  abstract class ScopeCarryingQueryBuilder extends Base implements ScopeCarrier {
    [SCOPE]?: ScopeContext;
    [WRITE_PLAN]?: unknown;

    constructor(...args: any[]) {
      super(...args);
      // Always set (undefined too): one hidden class per builder kind keeps TypeORM's call sites fast.
      this[SCOPE] = scopeOf(args[0]);
      this[WRITE_PLAN] = undefined;
    }

    override createQueryBuilder(queryRunner?: QueryRunner): this {
      return withScope(super.createQueryBuilder(queryRunner), this[SCOPE]) as this;
    }

    override select(...args: any[]): any {
      if (typeof args[0] === 'function') args[0] = guardSubQueryFactory(this[SCOPE], args[0], 'select(subquery)');
      return withScope((super.select as (...a: any[]) => AnyQueryBuilder)(...args), this[SCOPE]);
    }
    // Another kind of builder: copied straight into the scoped class of that kind (see becomeScoped).
    override insert(): any {
      return becomeScoped(this, 'InsertQueryBuilder', 'insert')?.insert() ?? withScope(super.insert(), this[SCOPE]);
    }
    override update(...args: any[]): any {
      const next = becomeScoped(this, 'UpdateQueryBuilder', 'update');
      return next ? (next.update as (...a: any[]) => AnyQueryBuilder)(...args) : withScope((super.update as (...a: any[]) => AnyQueryBuilder)(...args), this[SCOPE]);
    }
    override delete(): any {
      return becomeScoped(this, 'DeleteQueryBuilder', 'delete')?.delete() ?? withScope(super.delete(), this[SCOPE]);
    }
    override softDelete(): any {
      return becomeScoped(this, 'SoftDeleteQueryBuilder', 'soft-delete')?.softDelete() ?? withScope(super.softDelete(), this[SCOPE]);
    }
    override restore(): any {
      return becomeScoped(this, 'SoftDeleteQueryBuilder', 'restore')?.restore() ?? withScope(super.restore(), this[SCOPE]);
    }
    override relation(...args: any[]): any {
      const next = becomeScoped(this, 'RelationQueryBuilder', 'relation');
      return next
        ? (next.relation as (...a: any[]) => AnyQueryBuilder).apply(next, args)
        : withScope((super.relation as (...a: any[]) => AnyQueryBuilder).apply(this, args), this[SCOPE]);
    }

    override getParameters(): ObjectLiteral {
      const parameters = super.getParameters();
      const scope = this[SCOPE];
      if (scope?.safe && scope.tenantId !== undefined) parameters[TENANT_PARAMETER] = scope.tenantId;
      return parameters;
    }

    // better-sqlite3: integers bound, so the statement text repeats and its prepared statement is reused.
    override getQueryAndParameters(): [string, any[]] {
      if (!this[SCOPE]?.registry.bindsIntegers) return super.getQueryAndParameters();
      return escapeWithBoundIntegers(this.dataSource.driver, this.getQuery(), this.getParameters()) as [string, any[]];
    }

    override addCommonTableExpression(queryBuilder: AnyQueryBuilder | string, alias: string, options?: any): this {
      assertEmbeddable(this[SCOPE], queryBuilder, `addCommonTableExpression("${alias}")`);
      return super.addCommonTableExpression(queryBuilder, alias, options);
    }

    // whereExists / andWhereExists / orWhereExists embed another builder's SQL.
    // (TypeORM's getExists() wraps a builder as `SELECT 1 FROM (dummy) WHERE EXISTS (builder)`, the
    // wrapper taken from the DataSource: its answer is the wrapped builder's, scoped or plain as that one is.)
    protected override getExistsCondition(subQuery: any): [string, any[]] {
      if (!(contextualBuilders.has(this) && isDummyOnly(this.expressionMap))) assertEmbeddable(this[SCOPE], subQuery, 'whereExists');
      return super.getExistsCondition(subQuery);
    }

    protected override createWhereExpression(): string {
      const scope = this[SCOPE];
      if (!scope?.safe) return super.createWhereExpression();
      const map = this.expressionMap;
      const prefixed = map.aliasNamePrefixingEnabled;
      // (No arrays on this path: it runs for every statement a tenant renders.)
      let criteria = '';
      const add = (criterion: string) => {
        criteria = criteria ? `${criteria} AND ${criterion}` : criterion;
      };
      const visit = (alias: (typeof map.aliases)[number]) => {
        if (!alias.hasMetadata) return;
        const scoped = scopedTarget(scope, alias.metadata, map.queryType);
        if (scoped) {
          if (scope.registry.appSideCriteria) add(tenantCriterion(scoped, prefixed ? alias.name : undefined));
          return;
        }
        const sides = junctionTarget(scope, alias.metadata, map.queryType);
        if (sides && scope.registry.appSideCriteria) {
          const qualifier = prefixed ? this.escape(alias.name) : (this as unknown as { getTableName(path: string): string }).getTableName(alias.metadata.tablePath);
          add(junctionTenantCriterion(alias.metadata, sides, qualifier));
        }
      };
      if (prefixed) {
        for (const alias of map.aliases) if (alias.type === 'from') visit(alias);
      } else if (map.mainAlias) visit(map.mainAlias);
      if (!criteria) return super.createWhereExpression();
      const previous = map.extraAppendedAndWhereCondition;
      map.extraAppendedAndWhereCondition = previous ? `(${previous}) AND ${criteria}` : criteria;
      try {
        return super.createWhereExpression();
      } finally {
        map.extraAppendedAndWhereCondition = previous;
      }
    }

    protected override createFromAlias(entityTarget: any, aliasName?: string): any {
      const scope = this[SCOPE];
      return super.createFromAlias(guardSubQueryFactory(scope, resolveStringTarget(scope, entityTarget, 'from'), 'from(subquery)') as never, aliasName);
    }

    // SQL of a select, update, delete or insert (and of a subquery embedded in one) is rendered here.
    override getQuery(): string {
      assertStringTablesKnown(this[SCOPE], this as unknown as Parameters<typeof assertStringTablesKnown>[1]);
      // (Declared abstract on QueryBuilder; every concrete builder class this mixes into defines it.)
      return (Base.prototype as AnyQueryBuilder).getQuery.call(this);
    }

    // The runner a query runs on belongs to its tenant operation (runner-scope.ts): subscriber
    // events, TypeORM's follow-up builders (relation ids, returning re-selects) see the tenant.
    protected override obtainQueryRunner(): QueryRunner {
      const given = this.queryRunner;
      const runner = (super.obtainQueryRunner as () => QueryRunner).call(this);
      const scope = this[SCOPE];
      if (!scope) return runner;
      const run = tenantRunner(scope.registry, runner, scope, runner !== given, needsRunnerScope(this.expressionMap, scope.registry));
      // A view of a given runner replaces it on the builder, so TypeORM still sees "not ours to release".
      if (runner === given && run !== runner) this.setQueryRunner(run);
      return run;
    }

    // With a transaction binding (RLS, schema strategy), writes run in a bound transaction.
    override execute(): Promise<any> {
      if (!this[SCOPE]?.registry.bindsTransactions) return this.executeBound();
      return underTransactionBinding(this, () => this.executeBound(), (bound) => bound.execute());
    }

    /** @internal TypeORM's execute, where the statement runs: once per execution, inside the binding if there is one. */
    executeBound(): Promise<any> {
      return super.execute();
    }
  }
  return ScopeCarryingQueryBuilder;
}

/**
 * With row-level security, a builder's statements run in a transaction bound to
 * its tenant: in the runner's open transaction, or in a short one on a runner of
 * its own (then the call is repeated on a clone that holds that runner).
 */
export function underTransactionBinding<T, Q extends AnyQueryBuilder & ScopeCarrier>(qb: Q, direct: () => Promise<T>, again: (bound: Q) => Promise<T>): Promise<T> {
  const scope = qb[SCOPE];
  if (!scope?.registry.bindsTransactions) return direct();
  const own = runnerOf(qb);
  return inScopedTransaction(scope.registry, scope, own, (runner) => {
    if (runner === own) return direct();
    const bound = qb.clone().setQueryRunner(runner) as Q;
    carryFindState(qb, bound);
    return again(bound);
  });
}

/**
 * A builder embedded into a scoped query (a subquery from a callback, EXISTS, a CTE,
 * INSERT ... SELECT) must carry the same tenant of the same Tenancy, or be an explicit
 * `{ safe: false }` builder; a plain builder or raw SQL would read every tenant's rows
 * from inside the scoped statement.
 */
export function assertEmbeddable(scope: ScopeContext | undefined, embedded: unknown, operation: string): void {
  if (!scope?.safe) return;
  const inner = scopeOf(embedded);
  if (inner && inner.registry === scope.registry && (!inner.safe || inner.tenantId === scope.tenantId)) return;
  throw refused(scope, new UnsafeQueryError(
    `${operation} was given ${typeof embedded === 'string' ? 'raw SQL' : 'a query builder not created by this tenant manager'}, which cannot be scoped. ` +
      'Build it with the same manager (manager.createQueryBuilder(...), or the builder the callback receives) or create it with { safe: false } on purpose.',
    { operation, tenant: scope.tenantId },
  ));
}

/**
 * Builders the DataSource handed out scoped only because `tenancy.run()` is bound (plain code in
 * `'context'` mode), not by a tenant manager: TypeORM's own exists wrapper is one of them.
 */
const contextualBuilders = new WeakSet<object>();

/** Marks a builder the DataSource scoped by the bound context (see `contextualBuilders`). */
export function markContextual<Q extends object>(qb: Q): Q {
  contextualBuilders.add(qb);
  return qb;
}

/**
 * Whether TypeORM builds more on a query's runner than the query itself: a select that loads
 * relation ids or query-strategy relations does (through the DataSource, with the runner); a
 * write may re-select its entities through `runner.manager`. A plain select does not.
 */
function needsRunnerScope(map: AnyQueryBuilder['expressionMap'], registry: ScopeRegistry): boolean {
  // An update or delete builds nothing on its runner unless it updates entities it was given
  // (persistence: returned columns re-selected); subscribers are checked by tenantRunner itself.
  if (map.queryType === 'update' || map.queryType === 'delete' || map.queryType === 'soft-delete' || map.queryType === 'restore') return map.whereEntities.length > 0;
  // An insert's only follow-up is the re-select of its generated columns (drivers without
  // RETURNING) by the id the driver reports. MySQL/MariaDB report the statement's own (none when it
  // wrote no row), so one plain row re-selects the row it just wrote. SQLite (every driver that
  // shares one runner) reports last_insert_rowid(): the connection's last inserted row, another
  // tenant's when the statement wrote none — a trigger's RAISE(IGNORE), an ON CONFLICT IGNORE clause,
  // a view's INSTEAD OF trigger. There it is scoped unless the database said the table has none of
  // them (fold-blockers.ts, asked before the table's first insert). Several rows (SQLite computes
  // their ids from the last one), OR IGNORE and upserts: scoped everywhere.
  if (map.queryType === 'insert') {
    const values = map.valuesSet;
    const oneRow = values !== undefined && values !== null && (!Array.isArray(values) || values.length === 1);
    if (!oneRow || map.onIgnore || map.onUpdate) return true;
    return registry.sharedRunners && !(map.mainAlias?.hasMetadata && keepsEveryRow(registry, map.mainAlias.metadata));
  }
  if (map.queryType !== 'select') return true;
  return map.relationIdAttributes.length > 0 || map.relationLoadStrategy === 'query' || map.aliases.some((a) => a.hasMetadata && a.metadata.relationIds.length > 0);
}

/** A builder that reads no table: `fromDummy()` and nothing joined. */
function isDummyOnly(map: AnyQueryBuilder['expressionMap']): boolean {
  const dummy = map.mainAlias?.name === 'dummy_table' && (map.mainAlias.subQuery === '(SELECT 1 AS dummy_column)' || !map.mainAlias.hasMetadata);
  return dummy && map.aliases.every((a) => a === map.mainAlias || a.type === 'select') && map.joinAttributes.length === 0;
}

/**
 * A subquery factory (`from(qb => ...)`, `addSelect(qb => ...)`, `leftJoin(qb => ...)`,
 * `valuesFromSelect(qb => ...)`): TypeORM embeds whatever builder it returns, so the
 * returned builder must pass `assertEmbeddable`. Entity classes (also functions) pass as they are.
 */
export function guardSubQueryFactory(scope: ScopeContext | undefined, target: unknown, operation: string): unknown {
  if (!scope?.safe || typeof target !== 'function' || scope.registry.dataSource.hasMetadata(target)) return target;
  const factory = target as (qb: AnyQueryBuilder) => unknown;
  return (qb: AnyQueryBuilder) => {
    const built = factory(qb);
    assertEmbeddable(scope, built, operation);
    return built;
  };
}

/** The scoped class prototype of each builder kind, filled in by scoped-query-builders.ts. */
export const scopedPrototypes = new Map<symbol, object>();

/**
 * TypeORM turns a builder into another kind (`insert()`, `update()`, ...) by copying it into that
 * kind's class, a clone of its expression map, which withScope would then copy again into the scoped
 * class. A scoped builder of another kind is copied once, straight into the scoped class of the new
 * kind (the same constructor TypeORM's copy runs), on which the caller then applies TypeORM's own
 * method: it finds a builder of its kind and changes that one. (`queryType` is set on the builder
 * left behind, as TypeORM does.) `undefined` when the builder is of that kind already, or unscoped.
 */
function becomeScoped(qb: AnyQueryBuilder & ScopeCarrier, kind: string, queryType: string): AnyQueryBuilder | undefined {
  const scope = qb[SCOPE];
  const symbol = Symbol.for(kind);
  if (!scope || (qb as unknown as Record<string, symbol>)['@instanceof'] === symbol) return undefined;
  const prototype = scopedPrototypes.get(symbol) as { constructor: new (from: AnyQueryBuilder) => AnyQueryBuilder & ScopeCarrier } | undefined;
  if (!prototype) return undefined;
  qb.expressionMap.queryType = queryType as AnyQueryBuilder['expressionMap']['queryType'];
  const next = new prototype.constructor(qb);
  next[SCOPE] = scope;
  return next;
}

/**
 * Puts a builder under a scope: returns it as (or copied into) the scoped class of
 * its kind — never touching a TypeORM prototype. Without a scope it is returned as is.
 */
export function withScope<Q extends AnyQueryBuilder>(qb: Q, scope: ScopeContext | undefined): Q {
  if (!scope) return qb;
  const kind = (qb as unknown as Record<string, symbol>)['@instanceof']!;
  const prototype = scopedPrototypes.get(kind);
  if (!prototype) {
    throw new UnsafeQueryError(`A ${String(kind.description)} cannot be scoped by typeorm-tenancy.`, { tenant: scope.tenantId });
  }
  // A builder of another class is copied into the scoped class (TypeORM's own
  // `new Kind(qb)` copy). Swapping the prototype instead would be shorter, but V8
  // deoptimizes every TypeORM function that then meets such an object.
  const scoped = (Object.getPrototypeOf(qb) === prototype ? qb : new (prototype as { constructor: new (qb: Q) => Q }).constructor(qb)) as Q & ScopeCarrier;
  scoped[SCOPE] = scope;
  return scoped;
}
