import { DataSource } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { Tenancy } from '../src/index.js';
import { blogEntities, Post, Tenant } from './fixtures/blog.js';
import { createTestDatabase, databaseKinds } from './support/databases.js';

// Leak path: a query result cache keyed by an explicit id (the SQL is then ignored) served one
// tenant's cached rows to another. Here the id is prefixed with the tenant.
describe.each(databaseKinds())('query result cache on %s', (kind) => {
  it('a cache id used by two tenants caches each tenant separately (find cache option and qb.cache)', async () => {
    const db = await createTestDatabase(kind);
    const ds = new DataSource({ ...db.options, entities: blogEntities, synchronize: true, cache: { type: 'database', tableName: 'query_cache' } } as never);
    const tenancy = new Tenancy(ds, { defaultManager: 'unscoped' });
    await ds.initialize();
    try {
      const [a, b] = await ds.manager.save(Tenant, [{ name: 'a' }, { name: 'b' }]);
      await tenancy.manager(a!.id).save(Post, { title: 'a-post' });
      await tenancy.manager(b!.id).save(Post, { title: 'b-post' });
      const read = (tenant: number) => tenancy.manager(tenant).find(Post, { cache: { id: 'all-posts', milliseconds: 60_000 } });
      expect((await read(a!.id)).map((p) => p.title)).toEqual(['a-post']);
      expect((await read(b!.id)).map((p) => p.title)).toEqual(['b-post']);
      const viaBuilder = (tenant: number) => tenancy.manager(tenant).createQueryBuilder(Post, 'p').cache('qb-posts', 60_000).getMany();
      expect((await viaBuilder(a!.id)).map((p) => p.title)).toEqual(['a-post']);
      expect((await viaBuilder(b!.id)).map((p) => p.title)).toEqual(['b-post']);
      // The cache really is used: a second read for the same tenant is served from it.
      await ds.manager.update(Post, { title: 'a-post' }, { title: 'a-renamed' });
      expect((await read(a!.id)).map((p) => p.title)).toEqual(['a-post']);
      const ids = (await ds.query('SELECT identifier FROM query_cache')) as Array<{ identifier: string }>;
      expect(ids.map((r) => r.identifier).sort()).toEqual([`tenancy:${a!.id}:all-posts`, `tenancy:${a!.id}:qb-posts`, `tenancy:${b!.id}:all-posts`, `tenancy:${b!.id}:qb-posts`]);
    } finally {
      await ds.destroy();
      await db.drop();
    }
  });
});
