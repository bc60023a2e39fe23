import { DataSource, type EntityManager } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tenancy } from '../src/index.js';
import {
  assertTenantIsolation,
  type IsolationReport,
  probeTenantIsolation,
  TenantIsolationError,
} from '../src/testing/index.js';
import { blogEntities, Category, Comment, Post, Setting, Tag } from './fixtures/blog.js';
import { type BlogWorld, createBlogWorld } from './support/blog-world.js';
import { startRlsApp } from './support/app-role.js';
import { notesWorld, runBuilt } from './support/built-package.js';
import { databaseKinds } from './support/databases.js';

/**
 * `typeorm-tenancy/testing` against the blog fixtures: the probe battery passes on a
 * correct setup (SQLite, PostgreSQL, PostgreSQL with row-level security as the only
 * wall), fails with a readable list on deliberately leaky setups, and leaves the
 * database exactly as it found it.
 */

/** Every row of every table (junction and closure tables included), to compare before and after a run. */
async function dump(dataSource: DataSource): Promise<Record<string, string[]>> {
  const tables = [...new Set(dataSource.entityMetadatas.map((m) => m.tablePath))].sort();
  const result: Record<string, string[]> = {};
  for (const table of tables) {
    const rows = (await dataSource.query(`SELECT * FROM ${dataSource.driver.escape(table)}`)) as unknown[];
    result[table] = rows.map((r) => JSON.stringify(r)).sort();
  }
  return result;
}

const failed = (report: IsolationReport) => report.probes.filter((p) => !p.passed);
const failedNames = (report: IsolationReport) => failed(report).map((p) => `${p.entity}: ${p.name}`);
const scopedNames = ['Category', 'Comment', 'Folder', 'Post', 'Setting', 'Tag'];

describe.each(databaseKinds())('typeorm-tenancy/testing on %s', (kind) => {
  let w: BlogWorld;
  beforeAll(async () => {
    w = await createBlogWorld(kind);
  });
  afterAll(async () => w?.close());

  it('default seeding: every scoped entity probed (reads, joins, relations, writes), all pass, the database is left as it was', async () => {
    const before = await dump(w.dataSource);
    const report = await probeTenantIsolation({ tenancy: w.tenancy, dataSource: w.dataSource });
    expect(failed(report)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.cleanup).toEqual([]);
    expect(await dump(w.dataSource)).toEqual(before);
    expect([...new Set(report.probes.map((p) => p.entity))].sort()).toEqual([...scopedNames, 'Tenant', 'User'].sort());
    // Only the upsert of entities without a natural key is left out.
    expect(report.notProbed.map((n) => `${n.entity} ${n.probe}`).sort()).toEqual(['Category upsert', 'Comment upsert', 'Folder upsert', 'Post upsert', 'Tag upsert']);
    const names = report.probes.map((p) => `${p.entity}: ${p.name}`);
    for (const expected of [
      "Post: findOneBy(the other tenant's key)",
      'Post: count({ withDeleted }) equals the tenant\'s own rows',
      'Post: createQueryBuilder() joining every scoped relation (category, comments, tags)',
      "Post: find({ relations: { tags: true } }) [tags → Tag]",
      'Comment: lazy relation (await entity.relation) [pinned → Post]',
      'User: @RelationId postIds [posts → Post]',
      "User: find({ relations: { posts: true } }) [posts → Post]",
      'Folder: getTreeRepository().findTrees()',
      "Post: softDelete(the other tenant's key)",
      "Setting: upsert(on key = the other tenant's values)",
      'Tag: insert(a row naming the other tenant)',
      "Comment: delete(the other tenant's key)",
      'Tag: query() (raw SQL)',
      "Post: createQueryBuilder().from('POSTS') (the table named by a string)",
      'Post: from(() => a plain builder) (subquery callback)',
      "Post: a subscriber's event.manager during find()",
      'Tenant: find() of the tenant table',
      "Tenant: delete(the other tenant's id) of the tenant table (in a transaction rolled back)",
    ]) {
      expect(names).toContain(expected);
    }
    expect(report.probes.length).toBeGreaterThan(200);
    expect(report.probes.find((p) => p.name === 'insert(a row naming the other tenant)')!.detail).toBe('refused with TenantMismatchError');
    expect(report.probes.find((p) => p.entity === 'Tag' && p.name === 'query() (raw SQL)')!.detail).toBe('refused with UnsafeQueryError');
  });

  it("a seed of the application's own, limited to some entities; assertTenantIsolation returns the report", async () => {
    const before = await dump(w.dataSource);
    const seed = async (em: EntityManager, label: string) => {
      const tag = await em.save(Tag, { label: `tag-${label}` });
      const category = await em.save(Category, { name: `category-${label}` });
      for (const n of [1, 2]) {
        const post = await em.save(Post, { title: `post-${label}-${n}`, likes: n, category, tags: [tag], author: w.alice } as Post);
        await em.save(Comment, { body: `comment-${label}-${n}`, post } as Comment);
      }
    };
    const report = await assertTenantIsolation({ tenancy: w.tenancy, dataSource: w.dataSource, entities: [Post, Comment, Tag], seed });
    expect(report.ok).toBe(true);
    expect([...new Set(report.probes.map((p) => p.entity))].sort()).toEqual(['Comment', 'Post', 'Tag', 'Tenant', 'User']);
    // The shared user alice is the author of both tenants' posts here: loading her posts from tenant a stays in tenant a.
    expect(report.probes.filter((p) => p.entity === 'User').length).toBeGreaterThan(3);
    expect(await dump(w.dataSource)).toEqual(before);
  });

  it('existing tenants: only the rows the run wrote are removed', async () => {
    const before = await dump(w.dataSource);
    const report = await probeTenantIsolation({ tenancy: w.tenancy, dataSource: w.dataSource, tenants: [w.t1, w.t2], entities: [Setting, Tag] });
    expect(failed(report)).toEqual([]);
    expect(report.tenants).toEqual([w.t1, w.t2]);
    expect(await dump(w.dataSource)).toEqual(before);
  });

  it('FAILS on a leaky stand-in whose manager() is the plain dataSource.manager: reads, writes, inserts and raw SQL all reported', async () => {
    const before = await dump(w.dataSource);
    const leaky = { manager: () => w.dataSource.manager, scopeRegistry: w.tenancy.scopeRegistry };
    const report = await probeTenantIsolation({ tenancy: leaky, dataSource: w.dataSource });
    expect(report.ok).toBe(false);
    const names = failedNames(report);
    expect(names.some((n) => /^Post: createQueryBuilder\(\)\.delete\(\)\.from\('(public|main)\.posts'\)\.where\(the other tenant's key\)$/.test(n))).toBe(true);
    for (const expected of [
      'Post: find() (all rows, withDeleted)',
      "Post: findOneBy(the other tenant's key)",
      "Post: countBy(the other tenant's key)",
      "Post: find({ relations: { comments: true } }) [comments → Comment]",
      "User: find({ relations: { posts: true } }) [posts → Post]",
      'User: @RelationId postIds [posts → Post]',
      "Post: update(the other tenant's key, { title })",
      "Post: softDelete(the other tenant's key)",
      "Setting: upsert(on key = the other tenant's values)",
      'Tag: insert(a row naming the other tenant)',
      "Tag: delete(the other tenant's key)",
      'Tag: query() (raw SQL)',
      // Rules 8 and 9: strings, subquery callbacks, subscribers, the tenant row.
      "Post: createQueryBuilder().from('POSTS') (the table named by a string)",
      'Post: from(() => a plain builder) (subquery callback)',
      'Post: leftJoin(() => a plain builder) (subquery callback)',
      'Post: addSelect(() => a plain builder counting rows) (subquery callback)',
      "Post: a subscriber's event.manager during find()",
      "Post: a subscriber's event.manager during transaction(tx => tx.find())",
      'Tenant: find() of the tenant table',
      "Tenant: findOneBy(the other tenant's id) of the tenant table",
      "Tenant: update(the other tenant's id, { name }) of the tenant table",
      "Tenant: delete(the other tenant's id) of the tenant table (in a transaction rolled back)",
    ]) {
      expect(names).toContain(expected);
    }
    const insert = report.probes.find((p) => p.entity === 'Tag' && p.name === 'insert(a row naming the other tenant)')!;
    expect(insert.detail).toMatch(/^wrote 1 row\(s\) into the other tenant/);
    const update = report.probes.find((p) => p.entity === 'Post' && p.name === "update(the other tenant's key, { title })")!;
    expect(update.detail).toMatch(/^changed the row: title /);
    // Even the leaky run's writes are removed afterwards.
    expect(report.cleanup).toEqual([]);
    expect(await dump(w.dataSource)).toEqual(before);

    const error = await assertTenantIsolation({ tenancy: leaky, dataSource: w.dataSource, entities: [Tag] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TenantIsolationError);
    const message = (error as TenantIsolationError).message;
    expect(message).toMatch(/^Tenant isolation: \d+ of \d+ probes failed \(tenant \d+ probing tenant \d+'s rows\):\n/);
    expect(message).toContain("  ✗ Tag: findOneBy(the other tenant's key) — returned the other tenant's rows: Tag ");
    expect((error as TenantIsolationError).code).toBe('TENANCY_ISOLATION_LEAK');
  });

  it('FAILS when the app-side filter is switched off (test-only switch) and nothing else guards: the reads and by-key writes that leak are reported', async () => {
    const registry = w.tenancy.scopeRegistry;
    registry.appSideCriteria = false;
    let report: IsolationReport;
    try {
      report = await probeTenantIsolation({ tenancy: w.tenancy, dataSource: w.dataSource });
    } finally {
      registry.appSideCriteria = true;
    }
    expect(report.ok).toBe(false);
    const names = failedNames(report);
    expect(names).toContain("Comment: findOneBy(the other tenant's key)");
    expect(names).toContain('Post: createQueryBuilder() joining every scoped relation (category, comments, tags)');
    expect(names).toContain("Post: find({ relations: { tags: true } }) [tags → Tag]");
    expect(names).toContain('Comment: lazy relation (await entity.relation) [pinned → Post]');
    // The switch drops the tenant criterion from UPDATE/DELETE WHERE clauses too (see the report of this work) ...
    expect(names).toContain("Tag: update(the other tenant's key, { label })");
    expect(names).toContain("Post: softDelete(the other tenant's key)");
    // ... while the guards that refuse another tenant's id stay.
    const guards = /^(insert\(a row naming|save\(a new row naming|update\(own key, \{ tenant)/;
    expect(report.probes.filter((p) => guards.test(p.name)).length).toBe(6 * 3);
    expect(failed(report).filter((p) => guards.test(p.name))).toEqual([]);
    // A leaking write is undone before the next probe, so each write probe reports its own outcome.
    expect(failed(report).filter((p) => p.detail.startsWith('could not check'))).toEqual([]);
  });
});

const hasPostgres = databaseKinds().includes('postgres');

describe.skipIf(!hasPostgres)('typeorm-tenancy/testing with PostgreSQL row-level security', () => {
  let w: BlogWorld;
  let app: DataSource;
  let tenancy: Tenancy;
  let closeApp: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    w = await createBlogWorld('postgres');
    ({ app, tenancy, close: closeApp } = await startRlsApp(w.dataSource, { entities: blogEntities, prefix: 'tenancy_kit', extra: { max: 3 } }));
  });
  afterAll(async () => {
    await closeApp?.();
    await w?.close();
  });

  it('passes with the app-side filter and with the database alone (appSideCriteria off); raw checks see through the policies; nothing left behind', async () => {
    const before = await dump(w.dataSource);
    const both = await probeTenantIsolation({ tenancy, dataSource: app });
    expect(failed(both)).toEqual([]);
    expect(both.probes.find((p) => p.entity === 'Post' && p.name === 'query() (raw SQL)')!.detail).toMatch(/^ran \(row-level security\) and returned only the tenant's 2 rows$/);
    tenancy.scopeRegistry.appSideCriteria = false;
    let alone: IsolationReport;
    try {
      alone = await probeTenantIsolation({ tenancy, dataSource: app });
    } finally {
      tenancy.scopeRegistry.appSideCriteria = true;
    }
    expect(failed(alone)).toEqual([]);
    expect(alone.probes.length).toBe(both.probes.length);
    expect(await dump(w.dataSource)).toEqual(before);
  });

  it('FAILS on a leaky stand-in connected as a superuser (policies do not apply): the probes report it', async () => {
    const leaky = { manager: () => w.dataSource.manager, scopeRegistry: w.tenancy.scopeRegistry };
    const report = await probeTenantIsolation({ tenancy: leaky, dataSource: w.dataSource, entities: [Post] });
    expect(failedNames(report)).toContain("Post: findOneBy(the other tenant's key)");
    expect(report.ok).toBe(false);
  });
});

// Through the built package, as an application loads it: `typeorm-tenancy` and `typeorm-tenancy/testing`
// must share one Tenancy and one set of decorator marks (a shared chunk), in both module systems.
describe('typeorm-tenancy/testing from the built package', () => {
  const body = `${notesWorld}
    const report = await kit.probeTenantIsolation({ tenancy });
    const leak = await kit.assertTenantIsolation({ tenancy: { manager: () => ds.createEntityManager() }, dataSource: ds }).catch((e) => e.code);
    console.log(JSON.stringify({ ok: report.ok, entities: [...new Set(report.probes.map((p) => p.entity))], leak }));
    await ds.destroy();`;
  const expected = JSON.stringify({ ok: true, entities: ['Note', 'Tenant'], leak: 'TENANCY_ISOLATION_LEAK' });
  const imports = { typeorm: 'typeorm', 'typeorm-tenancy': 'lib', 'typeorm-tenancy/testing': 'kit' };

  it.each(['cjs', 'esm'] as const)('%s', (system) => {
    expect(runBuilt(system, imports, body)).toBe(expected);
  });
});
