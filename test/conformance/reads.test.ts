import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnsafeQueryError } from '../../src/index.js';
import { Post } from '../fixtures/blog.js';
import { conformanceCases, createBlogWorld, type BlogWorld } from '../support/blog-world.js';

const acmeTitles = ['acme-1', 'acme-2', 'acme-poisoned'];

describe.each(await conformanceCases())('reads on $name', (c) => {
  let w: BlogWorld;
  beforeAll(async () => {
    w = await createBlogWorld(c);
  });
  afterAll(async () => w?.close());

  const titles = (posts: Post[]) => posts.map((p) => p.title).sort();

  it('find / findBy return only the tenant rows, and OR criteria cannot escape', async () => {
    const em = w.tenancy.manager(w.t1);
    expect(titles(await em.find(Post))).toEqual(acmeTitles);
    expect(titles(await em.findBy(Post, [{ title: 'globex-1' }, { id: w.posts.g2.id }, { title: 'acme-1' }]))).toEqual(['acme-1']);
    expect(titles(await w.tenancy.manager(w.t2).find(Post))).toEqual(['globex-1', 'globex-2']);
    expect(w.log.matching(/FROM [`"]posts[`"]/).at(-1)).toMatch(/[`"]tenant_id[`"] = /);
  });

  it('findOne / findOneBy / findOneOrFail / findOneByOrFail by another tenant id find nothing', async () => {
    const em = w.tenancy.manager(w.t1);
    expect(await em.findOneBy(Post, { id: w.posts.g1.id })).toBeNull();
    expect(await em.findOne(Post, { where: { id: w.posts.g1.id } })).toBeNull();
    await expect(em.findOneByOrFail(Post, { id: w.posts.g1.id })).rejects.toThrow();
    await expect(em.findOneOrFail(Post, { where: { id: w.posts.g1.id } })).rejects.toThrow();
    expect((await em.findOneByOrFail(Post, { id: w.posts.a1.id })).title).toBe('acme-1');
  });

  it('count / countBy / exists / existsBy / findAndCount / findAndCountBy', async () => {
    const em = w.tenancy.manager(w.t1);
    expect(await em.count(Post)).toBe(3);
    expect(await em.countBy(Post, { title: 'globex-1' })).toBe(0);
    expect(await em.exists(Post, { where: { id: w.posts.g1.id } })).toBe(false);
    expect(await em.existsBy(Post, { id: w.posts.a1.id })).toBe(true);
    const [rows, total] = await em.findAndCount(Post, { take: 1, order: { id: 'ASC' } });
    expect([rows.length, total]).toEqual([1, 3]);
    expect((await em.findAndCountBy(Post, { title: 'globex-2' }))[1]).toBe(0);
  });

  it('sum / average / minimum / maximum aggregate only the tenant rows', async () => {
    const em = w.tenancy.manager(w.t1);
    expect(Number(await em.sum(Post, 'likes'))).toBe(6);
    expect(Number(await em.average(Post, 'likes'))).toBe(2);
    expect(Number(await em.minimum(Post, 'likes'))).toBe(1);
    expect(Number(await em.maximum(Post, 'likes'))).toBe(3);
    expect(Number(await em.maximum(Post, 'likes', { title: 'globex-2' }))).toBe(0);
  });

  it('SelectQueryBuilder getMany / getOne / getRawMany / getRawOne / getCount / getExists / getManyAndCount / getRawAndEntities / getOneOrFail', async () => {
    const em = w.tenancy.manager(w.t1);
    const qb = () => em.createQueryBuilder(Post, 'p');
    expect(titles(await qb().getMany())).toEqual(acmeTitles);
    expect(await qb().where('p.id = :id', { id: w.posts.g1.id }).getOne()).toBeNull();
    await expect(qb().where('p.id = :id', { id: w.posts.g1.id }).getOneOrFail()).rejects.toThrow();
    expect((await qb().select('p.title', 'title').getRawMany()).map((r) => r.title).sort()).toEqual(acmeTitles);
    expect(await qb().where('p.title = :t', { t: 'globex-1' }).getRawOne()).toBeUndefined();
    expect(await qb().getCount()).toBe(3);
    expect(await qb().where('p.id = :id', { id: w.posts.g2.id }).getExists()).toBe(false);
    expect((await qb().getManyAndCount())[1]).toBe(3);
    expect((await qb().getRawAndEntities()).entities).toHaveLength(3);
    // A user OR in where() stays inside its own parentheses.
    expect(titles(await qb().where('p.title = :a', { a: 'globex-1' }).orWhere('1 = 1').getMany())).toEqual(acmeTitles);
  });

  it('pagination with joins (skip/take + leftJoinAndSelect) stays in the tenant', async () => {
    const em = w.tenancy.manager(w.t1);
    const page = await em.createQueryBuilder(Post, 'p').leftJoinAndSelect('p.tags', 't').orderBy('p.id').skip(0).take(10).getMany();
    expect(titles(page)).toEqual(acmeTitles);
    expect(page.flatMap((p) => p.tags.map((t) => t.label)).sort()).toEqual(['acme-tag', 'acme-tag']);
  });

  it('subQuery() and from(subquery factory) are scoped', async () => {
    const em = w.tenancy.manager(w.t1);
    const qb = em.createQueryBuilder(Post, 'p');
    const sub = qb.subQuery().select('c.postId').from('Comment', 'c').getQuery();
    const withComments = await qb.where(`p.id IN ${sub}`).getMany();
    // globex-c1 points at g1 but belongs to globex; acme-c-poisoned points at g1 but g1 is not an acme post.
    expect(titles(withComments)).toEqual(['acme-1']);
    const counted = await em
      .createQueryBuilder()
      .select('COUNT(*)', 'n')
      .from((s) => s.select('x.id', 'id').from(Post, 'x'), 'sq')
      .getRawOne();
    expect(Number(counted.n)).toBe(3);
  });

  it('clone(), execute() and the internal steps (executeEntitiesAndRawResults, executeCountQuery, executeExistsQuery via fromDummy, loadRawResults, callAggregateFun) keep the scope', async () => {
    const em = w.tenancy.manager(w.t1);
    const base = em.createQueryBuilder(Post, 'p');
    expect(titles(await base.clone().getMany())).toEqual(acmeTitles);
    expect((await base.clone().select('p.title', 'title').execute()).map((r: { title: string }) => r.title).sort()).toEqual(acmeTitles);
    expect(await em.createQueryBuilder().select('1', 'one').fromDummy().getRawOne()).toBeDefined();
    // exists() inside a transaction: the outer EXISTS query is built on the DataSource while the scope is ambient.
    const found = await em.transaction(async (tx) => [await tx.exists(Post, { where: { id: w.posts.g1.id } }), await tx.existsBy(Post, { id: w.posts.a1.id })]);
    expect(found).toEqual([false, true]);
    const own = em.createQueryBuilder(Post, 'p');
    const sub = em.createQueryBuilder(Post, 'x').select('1').where('x.id = p.id');
    expect(await own.whereExists(sub).getCount()).toBe(3);
  });

  it('stream() returns only the tenant rows', async () => {
    const em = w.tenancy.manager(w.t1);
    expect(em.createQueryBuilder(Post, 'p').getSql()).toMatch(/WHERE .*[`"]p[`"]\.[`"]tenant_id[`"] = /);
    if (c.kind === 'sqlite') return; // better-sqlite3 has no streaming in TypeORM; the SQL above is what would run
    const stream = await em.createQueryBuilder(Post, 'p').select('p.title', 'title').stream();
    const rows: string[] = [];
    for await (const row of stream as AsyncIterable<Record<string, string>>) rows.push(row.title ?? row.p_title ?? Object.values(row)[0]!);
    expect(rows.sort()).toEqual(acmeTitles);
  });

  it('a cache id names the tenant (cache ids are per tenant)', async () => {
    const a = w.tenancy.manager(w.t1).createQueryBuilder(Post, 'p').cache('all-posts', 60_000);
    const b = w.tenancy.manager(w.t2).createQueryBuilder(Post, 'p').cache('all-posts', 60_000);
    expect(a.expressionMap.cacheId).not.toEqual(b.expressionMap.cacheId);
    expect(String(a.expressionMap.cacheId)).toContain(String(w.t1));
    if (w.case.layout !== 'row' && w.case.layout !== 'rls') {
      // A bypass reads the tenant's own schema, database or shard with the same SQL for every tenant: per-tenant ids, SQL keys refused.
      const bypass = (t: number) => w.tenancy.manager(t).createQueryBuilder(Post, 'p', { safe: false });
      expect(bypass(w.t1).cache('all', 60_000).expressionMap.cacheId).not.toEqual(bypass(w.t2).cache('all', 60_000).expressionMap.cacheId);
      expect(() => bypass(w.t1).cache(true)).toThrow(UnsafeQueryError);
      await expect(w.tenancy.manager(w.t1).find(Post, { safe: false, cache: 60_000 })).rejects.toBeInstanceOf(UnsafeQueryError);
    }
  });

  it('find with { safe: false } reads every tenant on purpose', async () => {
    const em = w.tenancy.manager(w.t1);
    // Every post of the tenant's storage: all five on the row layout, its own and the stray elsewhere.
    expect(await em.find(Post, { safe: false })).toHaveLength(w.unsafePostCount);
    expect(await em.count(Post, { safe: false })).toBe(w.unsafePostCount);
    expect(await em.countBy(Post, { safe: false })).toBe(w.unsafePostCount);
    expect(await em.createQueryBuilder(Post, 'p', { safe: false }).getCount()).toBe(w.unsafePostCount);
    expect(await em.find(Post)).toHaveLength(3);
  });
});
