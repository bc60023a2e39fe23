import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MissingTenantError, TenancyConfigError, TenancyError, type TenantRef, UnsafeQueryError } from '../../src/index.js';
import { Post, Tag } from '../fixtures/blog.js';
import { conformanceCases, createBlogWorld, type BlogWorld } from '../support/blog-world.js';

describe.each(await conformanceCases())('refusals and bad input on $name', (c) => {
  let w: BlogWorld;
  beforeAll(async () => {
    w = await createBlogWorld(c);
  });
  afterAll(async () => w?.close());

  it('query() and sql`` are refused unless { safe: false } (under RLS they run, and the database scopes them)', async () => {
    const em = w.tenancy.manager(w.t1);
    if (w.case.layout === 'rls') {
      expect(((await em.query('SELECT title FROM posts ORDER BY title')) as Array<{ title: string }>).map((r) => r.title)).toEqual(['acme-1', 'acme-2', 'acme-poisoned']);
      expect(await em.sql`SELECT title FROM posts WHERE title = ${'globex-1'}`).toEqual([]);
    } else {
      await expect(em.query('SELECT * FROM posts')).rejects.toBeInstanceOf(UnsafeQueryError);
      await expect(em.sql`SELECT * FROM posts`).rejects.toBeInstanceOf(UnsafeQueryError);
    }
    const rows = await em.query('SELECT COUNT(*) AS n FROM posts', [], { safe: false });
    expect(Number((rows as Array<{ n: number }>)[0]!.n)).toBe(w.unsafePostCount);
  });

  it('clear() (TRUNCATE) of a scoped entity is refused and deletes nothing', async () => {
    const em = w.tenancy.manager(w.t1);
    const before = await w.inspect.count(Tag);
    await expect(em.clear(Tag)).rejects.toBeInstanceOf(UnsafeQueryError);
    expect(await w.inspect.count(Tag)).toBe(before);
  });

  it('INSERT ... SELECT (valuesFromSelect) into a scoped table is refused', async () => {
    const em = w.tenancy.manager(w.t1);
    const before = await w.inspect.count(Tag);
    const select = em.createQueryBuilder(Tag, 't').select('t.label');
    await expect(em.createQueryBuilder().insert().into(Tag, ['label']).valuesFromSelect(select).execute()).rejects.toBeInstanceOf(UnsafeQueryError);
    expect(await w.inspect.count(Tag)).toBe(before);
  });

  it('raw SQL subqueries in from / leftJoin and raw CTEs are refused; getMongoRepository is refused', async () => {
    const em = w.tenancy.manager(w.t1);
    expect(() => em.createQueryBuilder().select('x.id').from('(SELECT * FROM posts)', 'x')).toThrow(UnsafeQueryError);
    expect(() => em.createQueryBuilder(Post, 'p').leftJoin('(SELECT * FROM tags)', 't', '1=1')).toThrow(UnsafeQueryError);
    expect(() => em.createQueryBuilder(Post, 'p').addCommonTableExpression('SELECT 1', 'c')).toThrow(UnsafeQueryError);
    expect(() => em.createQueryBuilder(Post, 'p').addCommonTableExpression(w.dataSource.createQueryBuilder(Post, 'q'), 'c')).toThrow(UnsafeQueryError);
    expect(() => em.getMongoRepository()).toThrow(UnsafeQueryError);
    expect(() => em.createQueryBuilder(Post, 'p').addFrom('(SELECT * FROM tags)', 'x')).toThrow(UnsafeQueryError);
    // whereExists / andWhereExists / orWhereExists with a builder that is not this tenant's would read every tenant.
    const foreign = w.dataSource.createQueryBuilder(Post, 'g').where('g.title = :t', { t: 'globex-1' });
    expect(() => em.createQueryBuilder(Post, 'p').whereExists(foreign).getQuery()).toThrow(UnsafeQueryError);
    expect(() => em.createQueryBuilder(Post, 'p').andWhereExists(w.tenancy.manager(w.t2).createQueryBuilder(Post, 'g')).getQuery()).toThrow(UnsafeQueryError);
    expect(() => em.createQueryBuilder(Post, 'p').orWhereExists(foreign).getQuery()).toThrow(UnsafeQueryError);
    // fromDummy() is TypeORM's constant subquery: allowed.
    expect(await em.createQueryBuilder().select('1', 'x').fromDummy().getRawOne()).toBeDefined();
    // A raw table name of a scoped table is resolved to the entity and filtered.
    const viaTableName = await em.createQueryBuilder().select('t.label', 'label').from('tags', 't').getRawMany();
    expect(viaTableName.map((r) => r.label)).toEqual(['acme-tag']);
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['an empty string', ''],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a float', 1.5],
    ['a numeric string for an integer key', '1'],
    ['an object without a key', {}],
    ['an array', [1]],
    ['a boolean', true],
    ['an SQL fragment', "1' OR '1'='1"],
  ])('tenancy.manager(%s) is a MissingTenantError', (_label, value) => {
    // Bad input on purpose (the types refuse it): the run-time check.
    expect(() => w.tenancy.manager(value as TenantRef)).toThrow(MissingTenantError);
    expect(() => w.tenancy.manager(value as TenantRef)).toThrow(TenancyError);
  });

  it('safe given as a string is a TenancyConfigError and runs nothing', async () => {
    const em = w.tenancy.manager(w.t1);
    w.log.clear();
    await expect(em.find(Post, { safe: 'false' as unknown as boolean })).rejects.toBeInstanceOf(TenancyConfigError);
    expect(w.log.statements).toEqual([]);
  });

  it('errors carry a stable code, the entity, the operation and the tenant', async () => {
    const error = await w.tenancy.manager(w.t1).clear(Tag).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'UnsafeQueryError', code: 'TENANCY_UNSAFE_QUERY', entity: 'Tag', operation: 'clear', tenant: w.t1 });
  });
});
