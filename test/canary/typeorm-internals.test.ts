import {
  DataSource,
  DeleteQueryBuilder,
  EntityManager,
  InsertQueryBuilder,
  MigrationExecutor,
  QueryBuilder,
  RelationQueryBuilder,
  SelectQueryBuilder,
  UpdateQueryBuilder,
} from 'typeorm';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DriverUtils,
  PlainObjectToDatabaseEntityTransformer,
  RelationLoader,
  SoftDeleteQueryBuilder,
} from '../../src/internal/typeorm/deep-imports.js';
import { buildEntityMetadatasOffline } from '../../src/internal/typeorm/offline-metadata.js';
import { buildMetadataFrom, copyMetadataArgs } from '../../src/internal/typeorm/metadata-build.js';
import { runnerView, underlyingRunner } from '../../src/internal/typeorm/runner-view.js';
import { blogEntities } from '../fixtures/blog.js';

// Everything typeorm-tenancy reads or overrides that TypeORM does not document.
// When a TypeORM upgrade changes one of them, the failing test names it and the
// file that depends on it. Checked against typeorm 1.1.1.

const overridden: Array<[string, Function, string[]]> = [
  ['src/scoping/scoped-query-builders.ts (carryScope)', QueryBuilder, [
    'createWhereExpression', 'createFromAlias', 'getParameters', 'createQueryBuilder', 'getExistsCondition',
    'addCommonTableExpression', 'select', 'insert', 'update', 'delete', 'softDelete', 'restore', 'relation',
    'obtainQueryRunner', 'getTableName', 'escape', 'setQueryRunner',
  ]],
  ['src/scoping/scoped-query-builders.ts (ScopedSelectQueryBuilder)', SelectQueryBuilder, ['join', 'createJoinExpression', 'executeEntitiesAndRawResults', 'cache', 'fromDummy', 'addSelect', 'obtainQueryRunner']],
  ['src/scoping/scoped-query-builders.ts (ScopedInsertQueryBuilder)', InsertQueryBuilder, ['getValueSets', 'getInsertedColumns', 'createInsertExpression', 'execute', 'valuesFromSelect']],
  ['src/scoping/scoped-query-builders.ts (ScopedUpdateQueryBuilder)', UpdateQueryBuilder, ['createUpdateExpression', 'execute']],
  ['src/scoping/scoped-query-builders.ts (ScopedDeleteQueryBuilder)', DeleteQueryBuilder, ['execute', 'createDeleteExpression']],
  ['src/scoping/scoped-query-builders.ts (ScopedSoftDeleteQueryBuilder)', SoftDeleteQueryBuilder, ['execute', 'createUpdateExpression']],
  ['src/scoping/scoped-query-builders.ts (ScopedRelationQueryBuilder)', RelationQueryBuilder, ['loadMany', 'loadOne']],
  ['src/scoping/relation-loading.ts (TenantRelationLoader)', RelationLoader, ['load', 'enableLazyLoad']],
  ['src/manager/tenant-entity-manager.ts + bound-operations.ts', EntityManager, ['save', 'remove', 'softRemove', 'recover', 'transaction', 'preload', 'clear', 'query', 'createQueryBuilder']],
];

describe('TypeORM internals typeorm-tenancy depends on', () => {
  it.each(overridden)('%s: overridden members still exist', (file, type, members) => {
    const missing = members.filter((m) => typeof (type.prototype as Record<string, unknown>)[m] !== 'function');
    expect(missing, `${type.name} lost members used by ${file}`).toEqual([]);
  });

  it('src/internal/typeorm/deep-imports.ts: the non-exported classes are still importable', () => {
    expect([SoftDeleteQueryBuilder, RelationLoader, PlainObjectToDatabaseEntityTransformer].map((c) => typeof c)).toEqual(['function', 'function', 'function']);
    expect(typeof DriverUtils.isPostgresFamily).toBe('function');
    expect(typeof DriverUtils.isSQLiteFamily).toBe('function');
  });

  it('withScope (scoped-query-builders.ts): builders identify their kind by the "@instanceof" symbol', () => {
    const ds = new DataSource({ type: 'better-sqlite3', database: ':memory:' });
    const select = new SelectQueryBuilder(ds);
    expect((select as unknown as Record<string, unknown>)['@instanceof']).toBe(Symbol.for('SelectQueryBuilder'));
    expect((select.insert() as unknown as Record<string, unknown>)['@instanceof']).toBe(Symbol.for('InsertQueryBuilder'));
    expect((new SelectQueryBuilder(ds).update({}) as unknown as Record<string, unknown>)['@instanceof']).toBe(Symbol.for('UpdateQueryBuilder'));
    expect((new SelectQueryBuilder(ds).softDelete() as unknown as Record<string, unknown>)['@instanceof']).toBe(Symbol.for('SoftDeleteQueryBuilder'));
  });

  it('becomeScoped (scope-carrier.ts): a kind change copies with the constructor, and on a builder of that kind changes and returns that builder', () => {
    const ds = new DataSource({ type: 'better-sqlite3', database: ':memory:' });
    const kinds: Array<[new (from: QueryBuilder<object>) => QueryBuilder<object>, (qb: QueryBuilder<object>) => QueryBuilder<object>, string]> = [
      [InsertQueryBuilder, (qb) => qb.insert(), 'insert'],
      [UpdateQueryBuilder, (qb) => qb.update({ title: 'x' }), 'update'],
      [DeleteQueryBuilder, (qb) => qb.delete(), 'delete'],
      [SoftDeleteQueryBuilder as never, (qb) => qb.softDelete(), 'soft-delete'],
      [SoftDeleteQueryBuilder as never, (qb) => qb.restore(), 'restore'],
      [RelationQueryBuilder, (qb) => qb.relation('posts'), 'relation'],
    ];
    for (const [Kind, change, queryType] of kinds) {
      // TypeORM's own change: the builder left behind gets the query type, the new one is a copy (its own expression map).
      const select = new SelectQueryBuilder(ds);
      const changed = change(select);
      expect(changed, queryType).toBeInstanceOf(Kind);
      expect([select.expressionMap.queryType, changed.expressionMap.queryType, changed.expressionMap === select.expressionMap], queryType).toEqual([queryType, queryType, false]);
      // What becomeScoped relies on: the same method on a copy of that kind changes the copy and returns it.
      const copy = new Kind(new SelectQueryBuilder(ds));
      expect(change(copy), queryType).toBe(copy);
      expect(copy.expressionMap.queryType, queryType).toBe(queryType);
    }
  });

  it('tenant criterion (scoped-query-builders.ts, upsert-guard.ts): QueryExpressionMap fields it sets during rendering', () => {
    const map = new SelectQueryBuilder(new DataSource({ type: 'better-sqlite3', database: ':memory:' })).expressionMap;
    for (const field of ['extraAppendedAndWhereCondition', 'aliasNamePrefixingEnabled', 'joinAttributes', 'insertColumns', 'wheres', 'aliases']) {
      expect(field in map, `QueryExpressionMap.${field}`).toBe(true);
    }
  });

  it('instance-members.ts: DataSource instance members tenancy replaces on one instance', () => {
    const ds = new DataSource({ type: 'better-sqlite3', database: ':memory:' });
    expect(ds.relationLoader).toBeInstanceOf(RelationLoader);
    expect(typeof ds.createQueryBuilder).toBe('function');
    expect(typeof ds.initialize).toBe('function');
    expect(Array.isArray(ds.subscribers)).toBe(true);
  });

  it('instance-members.ts (transactionDepthOf): runners count transaction depth, 1 = outermost', async () => {
    const ds = new DataSource({ type: 'better-sqlite3', database: ':memory:' });
    await ds.initialize();
    const runner = ds.createQueryRunner();
    expect((runner as unknown as { transactionDepth: number }).transactionDepth).toBe(0);
    await runner.startTransaction();
    expect((runner as unknown as { transactionDepth: number }).transactionDepth).toBe(1);
    await runner.rollbackTransaction();
    await ds.destroy();
  });

  it('instance-members.ts (carryFindState): clone() drops the find state a select builder keeps outside its expression map', () => {
    const ds = new DataSource({ type: 'better-sqlite3', database: ':memory:' });
    const qb = new SelectQueryBuilder(ds) as unknown as Record<string, unknown> & { clone(): Record<string, unknown> };
    for (const field of ['findOptions', 'relationMetadatas', 'eagerLoadChain']) expect(field in qb, `SelectQueryBuilder.${field}`).toBe(true);
    qb.relationMetadatas = ['marker'];
    expect(qb.clone().relationMetadatas).toEqual([]); // if TypeORM starts copying it, carryFindState can go
  });

  it('tenant-schema-builder.ts (TenantMigrationExecutor): the executor keeps its migrations table name in these fields, and reads the list with getMigrations', () => {
    const executor = new MigrationExecutor(new DataSource({ type: 'better-sqlite3', database: ':memory:' })) as unknown as Record<string, unknown>;
    expect(['migrationsSchema', 'migrationsTable', 'migrationsTableName', 'migrationsDatabase'].filter((f) => !(f in executor))).toEqual([]);
    expect(executor.migrationsTable).toBe('migrations');
    expect(typeof (MigrationExecutor.prototype as unknown as Record<string, unknown>).getMigrations).toBe('function');
  });

  it('offline-metadata.ts: EntityMetadataBuilder without a connection builds what initialize() builds, lazy getters only through relationLoader', async () => {
    const refuse = (paths: string[]): never => {
      throw new Error(`paths ${paths.join()}`);
    };
    const shape = (metadatas: Array<{ name: string; tablePath: string; columns: Array<{ databaseName: string; type: unknown }>; foreignKeys: unknown[]; indices: unknown[] }>) =>
      metadatas
        .map((m) => ({ name: m.name, table: m.tablePath, columns: m.columns.map((c) => `${c.databaseName}:${String(c.type)}`).sort(), fks: m.foreignKeys.length, indices: m.indices.length }))
        .sort((a, b) => a.name.localeCompare(b.name));
    const offline = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: blogEntities });
    const lazyCalls: unknown[] = [];
    offline.relationLoader.enableLazyLoad = (...args: unknown[]) => void lazyCalls.push(args);
    const built = buildEntityMetadatasOffline(offline, refuse);
    expect(offline.isInitialized).toBe(false);
    expect(offline.entityMetadatas).toEqual([]);
    expect(lazyCalls).toEqual([]); // the builder reached the DataSource's loader only through the view
    const live = await new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: blogEntities }).initialize();
    expect(shape(built)).toEqual(shape(live.entityMetadatas));
    await live.destroy();
    expect(() => buildEntityMetadatasOffline(new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: ['x/*.js'] }), refuse)).toThrow('paths x/*.js');
  });

  it('metadata-build.ts: DataSource#buildMetadatas still runs the steps it replaces, and the replacement builds the same DataSource', async () => {
    const source = String((DataSource.prototype as unknown as { buildMetadatas: Function }).buildMetadatas);
    for (const step of ['buildSubscribers', 'buildEntityMetadatas', 'entityMetadatasMap', 'buildMigrations', 'validateMany', 'useDataSource']) {
      expect(source, `DataSource#buildMetadatas no longer does ${step}: check src/internal/typeorm/metadata-build.ts`).toContain(step);
    }
    const shape = (ds: DataSource) =>
      ds.entityMetadatas
        .map((m) => ({ name: m.name, columns: m.columns.map((c) => c.databaseName).sort(), fks: m.foreignKeys.length, relations: m.relations.length }))
        .sort((a, b) => a.name.localeCompare(b.name));
    class NoopMigration1 {
      async up(): Promise<void> {}
      async down(): Promise<void> {}
    }
    const options = { type: 'better-sqlite3' as const, database: ':memory:', entities: blogEntities, migrations: [NoopMigration1], subscribers: [] as Function[] };
    const replaced = new DataSource(options);
    buildMetadataFrom(replaced, copyMetadataArgs);
    await replaced.initialize();
    const plain = await new DataSource(options).initialize();
    expect(shape(replaced)).toEqual(shape(plain));
    expect(replaced.migrations.map((m) => m.constructor.name)).toEqual(['NoopMigration1']);
    expect([...replaced.entityMetadatasMap.keys()]).toEqual([...plain.entityMetadatasMap.keys()]);
    await Promise.all([replaced.destroy(), plain.destroy()]);
  });

  it('statement-parameters.ts: better-sqlite3 writes numbers into the SQL, pushes other values as they are, and matches parameters by the pattern mirrored there', async () => {
    const ds = new DataSource({ type: 'better-sqlite3', database: ':memory:' });
    await ds.initialize();
    try {
      const marker = { kept: true };
      const [sql, values] = ds.driver.escapeQueryWithParameters('a :n b :s c :...l d :x.y e (:o|0) f :missing', { n: 5, s: 'x', l: [1, 2], 'x.y': 7, o: marker });
      expect(sql).toBe('a 5 b ? c ?, ? d 7 e (?|0) f :missing');
      expect(values).toEqual(['x', 1, 2, marker]);
      expect(values[3]).toBe(marker);
    } finally {
      await ds.destroy();
    }
  });

  it('tenancy.ts: lazy relation getters bind to dataSource.relationLoader while metadata is built', () => {
    // enableLazyLoad is called on the loader the DataSource holds at build time; the replacement must happen before initialize().
    const source = String(RelationLoader.prototype.enableLazyLoad);
    expect(source).toMatch(/relationLoader\s*=\s*this/);
  });
});

describe('src/internal/typeorm/runner-view.ts: a per-operation view of a runner', () => {
  it('reads driver, dataSource, stmtCache and cacheSize as values: no runner class assigns them outside its constructor', () => {
    const typeormRoot = path.dirname(createRequire(import.meta.url).resolve('typeorm'));
    const files = [path.join(typeormRoot, 'query-runner', 'BaseQueryRunner.js')];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (entry.name.endsWith('QueryRunner.js')) files.push(file);
      }
    };
    walk(path.join(typeormRoot, 'driver'));
    expect(files.length).toBeGreaterThan(10);
    const outside: string[] = [];
    for (const file of files) {
      let method = '';
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        const header = /^ {4}(?:async |static |get |set )?([A-Za-z_$][\w$]*)\(.*\) \{$/.exec(line);
        if (header) method = header[1]!;
        if (/this\.(driver|dataSource|stmtCache|cacheSize) = /.test(line) && method !== 'constructor') outside.push(`${path.basename(file)} ${method}: ${line.trim()}`);
      }
    }
    expect(outside).toEqual([]);
  });


  it("keeps the runner's state in own data properties set by its constructor, and Broadcaster events carry queryRunner.manager", async () => {
    const ds = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [] });
    await ds.initialize();
    try {
      const runner = ds.createQueryRunner();
      // The view forwards the runner's own properties: the state TypeORM writes must be among them.
      for (const state of ['isTransactionActive', 'transactionDepth', 'isReleased', 'data', 'loadedTables', 'sqlMemoryMode', 'manager', 'broadcaster']) {
        expect(Object.prototype.hasOwnProperty.call(runner, state), state).toBe(true);
      }
      const view = runnerView(runner);
      const manager = new EntityManager(ds, view);
      expect(view.manager).toBe(manager);
      expect(runner.manager).not.toBe(manager);
      const seen: unknown[] = [];
      ds.subscribers.push({ afterTransactionStart: (event) => void seen.push(event.manager) });
      await view.startTransaction();
      expect([runner.isTransactionActive, (runner as unknown as { transactionDepth: number }).transactionDepth]).toEqual([true, 1]);
      expect(seen).toEqual([manager]);
      Object.assign(view, { data: { marker: 1 } });
      expect(runner.data).toEqual({ marker: 1 });
      await view.commitTransaction();
      expect(runner.isTransactionActive).toBe(false);
      expect(underlyingRunner(view)).toBe(runner);
    } finally {
      await ds.destroy();
    }
  });
});
