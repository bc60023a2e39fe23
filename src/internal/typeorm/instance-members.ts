import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import type { QueryResultCache } from 'typeorm/cache/QueryResultCache.js';
import type { RelationLoader } from './deep-imports.js';

// Members TypeORM declares readonly (or only on instances) that tenancy sets on
// one DataSource or manager instance, never on a prototype. Checked against
// typeorm 1.1.1; test/canary asserts each still exists with this shape.

/** `DataSource#relationLoader`: lazy-relation getters bind to it while metadata is built. */
export function replaceRelationLoader(dataSource: DataSource, loader: RelationLoader): void {
  Object.assign(dataSource, { relationLoader: loader });
}

export type CreateQueryBuilderOnDataSource = DataSource['createQueryBuilder'];

/** `DataSource#createQueryBuilder`: RelationIdLoader and RelationLoader build their queries here. */
export function wrapDataSourceQueryBuilder(
  dataSource: DataSource,
  wrap: (original: CreateQueryBuilderOnDataSource) => CreateQueryBuilderOnDataSource,
): void {
  const original = dataSource.createQueryBuilder.bind(dataSource) as CreateQueryBuilderOnDataSource;
  Object.assign(dataSource, { createQueryBuilder: wrap(original) });
}

/**
 * `DataSource#initialize`: tenancy adds its columns to the decorator args just
 * before TypeORM builds metadata from them, and precomputes its facts right after.
 */
export function aroundInitialize(dataSource: DataSource, before: () => void, after: () => Promise<void> | void): void {
  const original = dataSource.initialize.bind(dataSource);
  Object.assign(dataSource, {
    initialize: async () => {
      before();
      await original();
      await after();
      return dataSource;
    },
  });
}

/** `DataSource#manager` is readonly in the types and set once in the constructor. */
export function replaceDefaultManager(dataSource: DataSource, manager: EntityManager): void {
  Object.assign(dataSource, { manager });
}

/** `EntityManager#queryRunner` is readonly: a bypass sibling shares its runner without claiming it (`qr.manager`). */
export function shareQueryRunner(manager: EntityManager, queryRunner: QueryRunner | undefined): void {
  Object.assign(manager, { queryRunner });
}


/** `BaseQueryRunner#transactionDepth` (not on the QueryRunner interface): 1 = outermost transaction. */
export function transactionDepthOf(queryRunner: QueryRunner): number {
  return (queryRunner as unknown as { transactionDepth: number }).transactionDepth;
}

/** `QueryBuilder#queryRunner` is protected: row-level security needs to know whether a builder holds one. */
export function runnerOf(qb: object): QueryRunner | undefined {
  return (qb as { queryRunner?: QueryRunner }).queryRunner;
}

// SelectQueryBuilder state kept on the builder, not in its expression map, so `clone()` drops it:
// the find options and the relations that relationLoadStrategy "query" loads after the main query.
const findStateFields = ['findOptions', 'relationMetadatas', 'eagerLoadChain'] as const;

/** Copies the find state `clone()` does not carry from one select builder to its clone. */
export function carryFindState(from: object, to: object): void {
  for (const field of findStateFields) {
    if (field in from) Object.assign(to, { [field]: (from as Record<string, unknown>)[field] });
  }
}

/**
 * `DataSource#queryResultCache` (public, set by the constructor and `setOptions`): its methods take the
 * operation's runner and build on `queryRunner.manager` / the DataSource (DbQueryResultCache). Wrapped so
 * they get `adapt(runner)` instead: the cache's own table is TypeORM infrastructure, not a tenant's table.
 */
export function wrapQueryResultCache(dataSource: DataSource, adapt: (runner: QueryRunner) => QueryRunner): void {
  const cache = dataSource.queryResultCache as (QueryResultCache & Record<string, unknown>) | undefined;
  if (!cache || wrappedCaches.has(cache)) return;
  const wrapped = Object.create(cache) as QueryResultCache & Record<string, unknown>;
  const withRunner = (name: string, index: number) => {
    const method = cache[name] as ((...args: unknown[]) => unknown) | undefined;
    if (typeof method !== 'function') return;
    wrapped[name] = (...args: unknown[]) => {
      const runner = args[index] as QueryRunner | undefined;
      if (runner) args[index] = adapt(runner);
      return method.apply(cache, args);
    };
  };
  withRunner('synchronize', 0);
  withRunner('getFromCache', 1);
  withRunner('storeInCache', 2);
  withRunner('clear', 0);
  withRunner('remove', 1);
  wrappedCaches.add(wrapped);
  Object.assign(dataSource, { queryResultCache: wrapped });
}

const wrappedCaches = new WeakSet<object>();
