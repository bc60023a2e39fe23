import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MissingTenantError, Tenancy, TenancyConfigError, TenantEntityManager, UnsafeQueryError } from '../src/index.js';
import { blogEntities, Comment, Post, Tenant, User } from './fixtures/blog.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from './support/databases.js';

// defaultManager: 'context' (the default): existing code that uses dataSource.manager,
// dataSource.getRepository() or @InjectRepository() becomes tenant-safe unchanged.
describe.each(databaseKinds())("defaultManager 'context' on %s", (kind) => {
  let db: TestDatabase;
  let ds: DataSource;
  let tenancy: Tenancy;
  let t1: number;
  let t2: number;
  beforeAll(async () => {
    db = await createTestDatabase(kind);
    ds = new DataSource({ ...db.options, entities: blogEntities, synchronize: true } as never);
    tenancy = new Tenancy(ds);
    await ds.initialize();
    const [a, b] = await ds.manager.save(Tenant, [{ name: 'a' }, { name: 'b' }]); // shared entities work everywhere
    t1 = a!.id;
    t2 = b!.id;
    await tenancy.manager(t1).save(Post, [{ title: 'a1' }, { title: 'a2' }]);
    await tenancy.manager(t2).save(Post, { title: 'b1' });
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('dataSource.manager and dataSource.getRepository are scoped inside tenancy.run', async () => {
    expect(ds.manager).toBeInstanceOf(TenantEntityManager);
    const titles = await tenancy.run(t1, async () => (await ds.getRepository(Post).find()).map((p) => p.title).sort());
    expect(titles).toEqual(['a1', 'a2']);
    expect(await tenancy.run(t2, () => ds.manager.count(Post))).toBe(1);
    expect(await tenancy.run(t2, () => ds.manager.createQueryBuilder(User, 'u').leftJoinAndSelect('u.posts', 'p').getMany())).toEqual([]);
    await tenancy.run(t2, () => ds.manager.save(Post, { title: 'b2' }));
    expect(await tenancy.manager(t2).count(Post)).toBe(2);
    expect(await tenancy.run(t1, () => ds.transaction((tx) => tx.count(Post)))).toBe(2);
    expect(await tenancy.run(t1, () => ds.createQueryBuilder(Post, 'p').getCount())).toBe(2);
    expect(await ds.createQueryBuilder(Post, 'p').getCount()).toBe(4); // outside run: plain TypeORM
  });

  it('outside tenancy.run scoped entities are refused, shared ones work, { safe: false } bypasses', async () => {
    await expect(ds.manager.find(Post)).rejects.toBeInstanceOf(MissingTenantError);
    await expect(ds.getRepository(Comment).count()).rejects.toBeInstanceOf(MissingTenantError);
    await expect(ds.manager.insert(Post, { title: 'nobody', tenantId: t1 })).rejects.toBeInstanceOf(MissingTenantError);
    await expect(ds.manager.save(Post, { title: 'nobody' })).rejects.toBeInstanceOf(MissingTenantError);
    expect(await ds.manager.count(Tenant)).toBe(2);
    expect(await ds.manager.count(Post, { safe: false })).toBe(4);
    expect(() => (ds.manager as TenantEntityManager).tenantId).toThrow(MissingTenantError);
    // Raw SQL outside a tenant context is application code (as with plain TypeORM); inside one it is refused.
    expect(await ds.manager.query('SELECT 1 AS one')).toHaveLength(1);
    await expect(tenancy.run(t1, () => ds.manager.query('SELECT * FROM posts'))).rejects.toBeInstanceOf(UnsafeQueryError);
  });

  it('concurrent requests through the same default manager never mix tenants', async () => {
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        tenancy.run(i % 2 ? t1 : t2, async () => {
          await new Promise((r) => setTimeout(r, i % 3));
          return [(i % 2 ? t1 : t2), (await ds.manager.find(Post)).map((p) => p.tenantId)] as const;
        }),
      ),
    );
    for (const [tenant, seen] of results) expect(seen.every((t) => t === tenant)).toBe(true);
  });

  it('rejects an unknown defaultManager value', () => {
    const other = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: blogEntities });
    expect(() => new Tenancy(other, { defaultManager: 'global' as never })).toThrow(TenancyConfigError);
  });
});
