import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MissingTenantError, StorageConflictError, Tenancy, TenancyConfigError, TenantEntityManager } from '../../src/index.js';
import { blogEntities, Category, Comment, Post, Setting, Tag, Tenant, User } from '../fixtures/blog.js';
import { SqlLog } from '../support/blog-world.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/databases.js';

const hasPostgres = databaseKinds().includes('postgres');

describe.skipIf(!hasPostgres)("strategy 'schema' (PostgreSQL)", () => {
  let db: TestDatabase;
  let ds: DataSource;
  let tenancy: Tenancy;
  const log = new SqlLog();
  let acme: Tenant;
  let globex: Tenant;
  let alice: User;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    ds = new DataSource({ ...db.options, entities: blogEntities, synchronize: true, logger: log, logging: true, extra: { max: 4 } } as never);
    tenancy = new Tenancy(ds, { strategy: 'schema', defaultManager: 'unscoped' });
    await ds.initialize();
    acme = (await tenancy.tenants.create({ name: 'acme' })) as Tenant;
    globex = (await tenancy.tenants.create({ name: 'globex' })) as Tenant;
    alice = await ds.manager.save(User, { name: 'alice' });
    for (const [tenant, prefix] of [[acme, 'acme'], [globex, 'globex']] as const) {
      const em = tenancy.manager(tenant);
      const category = await em.save(Category, { name: `${prefix}-cat` });
      const tag = await em.save(Tag, { label: `${prefix}-tag` });
      await em.save(Post, [
        { title: `${prefix}-1`, author: alice, category, tags: [tag], likes: 1 },
        { title: `${prefix}-2`, author: alice, likes: 2 },
      ]);
    }
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  const titles = (posts: Post[]) => posts.map((p) => p.title).sort();

  it('tenants.create builds a schema with the scoped tables; shared tables stay in public, public scoped tables stay empty', async () => {
    const schemas = (await ds.query(`SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'tenant_%' ORDER BY 1`)) as Array<{ schema_name: string }>;
    expect(schemas.map((s) => s.schema_name)).toEqual([`tenant_${acme.id}`, `tenant_${globex.id}`]);
    const tables = (await ds.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, [`tenant_${acme.id}`])) as Array<{
      table_name: string;
    }>;
    expect(tables.map((t) => t.table_name)).toEqual(['categories', 'comments', 'folders', 'folders_closure', 'post_tags', 'posts', 'settings', 'tags']);
    expect(await ds.query(`SELECT title FROM "tenant_${acme.id}".posts ORDER BY title`)).toEqual([{ title: 'acme-1' }, { title: 'acme-2' }]);
    expect(await ds.query('SELECT * FROM public.posts')).toEqual([]);
    expect(await ds.manager.find(Post)).toEqual([]); // the plain manager reads the empty default schema
  });

  it('the same manager API reads only the tenant schema: find, joins from shared entities, relation ids, eager, counts', async () => {
    const em = tenancy.manager(acme);
    expect(titles(await em.find(Post))).toEqual(['acme-1', 'acme-2']);
    expect(titles(await tenancy.manager(globex).find(Post))).toEqual(['globex-1', 'globex-2']);
    const users = await em.createQueryBuilder(User, 'u').leftJoinAndSelect('u.posts', 'p').getMany();
    expect(users.flatMap((u) => u.posts.map((p) => p.title)).sort()).toEqual(['acme-1', 'acme-2']);
    expect((await em.find(User)).flatMap((u) => u.postIds)).toHaveLength(2);
    const first = await em.findOneOrFail(Post, { where: { title: 'acme-1' }, relations: { tags: true } });
    expect([first.category?.name, first.tags.map((t) => t.label)]).toEqual(['acme-cat', ['acme-tag']]);
    expect(await em.count(Post)).toBe(2);
    expect(Number(await em.sum(Post, 'likes'))).toBe(3);
  });

  it("defaultManager 'context': dataSource.manager and repositories read the bound tenant's schema inside run()", async () => {
    const app = new DataSource({ ...db.options, entities: blogEntities } as never);
    const appTenancy = new Tenancy(app, { strategy: 'schema' });
    await app.initialize();
    try {
      const repository = app.getRepository(Post);
      const seen = await appTenancy.run(globex.id, async () => [titles(await app.manager.find(Post)), titles(await repository.find()), await app.createQueryBuilder(Post, 'p').getCount()]);
      expect(seen).toEqual([['globex-1', 'globex-2'], ['globex-1', 'globex-2'], 2]);
      // { safe: false } through the default manager follows the bound tenant's schema, run after run.
      const bypassed = (t: Tenant) => appTenancy.run(t.id, async () => titles(await app.manager.find(Post, { safe: false })));
      expect([await bypassed(acme), await bypassed(globex), await bypassed(acme)]).toEqual([['acme-1', 'acme-2'], ['globex-1', 'globex-2'], ['acme-1', 'acme-2']]);
      await expect(repository.find()).rejects.toBeInstanceOf(MissingTenantError);
      // Outside run() there is no tenant schema to bind: raw SQL runs as given (VACUUM refuses a transaction block).
      await (app.manager as TenantEntityManager).query('VACUUM "tags"', [], { safe: false });
    } finally {
      await app.destroy();
    }
  });

  it('writes, transactions, upserts and lazy loads stay in the tenant schema; search_path is transaction-local', async () => {
    const em = tenancy.manager(globex);
    await em.transaction(async (tx) => {
      await tx.save(Post, { title: 'globex-tx' });
      await tx.update(Post, { title: 'globex-2' }, { likes: 9 });
    });
    await em.upsert(Setting, { key: 'theme', value: 'dark' }, ['key']);
    await tenancy.manager(acme).upsert(Setting, { key: 'theme', value: 'light' }, ['key']); // same key, other schema
    expect((await em.findOneByOrFail(Setting, { key: 'theme' })).value).toBe('dark');
    const post = await em.findOneByOrFail(Post, { title: 'globex-1' });
    const comment = await em.save(Comment, { body: 'c', post, pinned: Promise.resolve(post) } as never);
    const reloaded = await em.findOneByOrFail(Comment, { id: (comment as unknown as Comment).id });
    expect(reloaded.body).toBe('c');
    expect(await ds.query(`SELECT count(*)::int AS n FROM "tenant_${acme.id}".posts WHERE title LIKE 'globex%'`)).toEqual([{ n: 0 }]);
    const [{ path }] = (await ds.query(`SELECT current_setting('search_path') AS path`)) as Array<{ path: string }>;
    expect(path).not.toContain('tenant_');
    log.clear();
    await em.count(Post);
    // search_path travels with the statement itself (fused, below TypeORM's logger): no BEGIN, set_config or COMMIT of its own.
    expect(log.statements).toHaveLength(1);
    expect(log.statements[0]).toMatch(/^SELECT COUNT/);
  });

  it('tenants.remove drops the schema; a failed create leaves neither the tenant row nor the schema behind', async () => {
    const temp = (await tenancy.tenants.create({ name: 'temp' })) as Tenant;
    await tenancy.manager(temp).save(Post, { title: 'temp-post' });
    await tenancy.tenants.remove(temp);
    expect(await ds.query(`SELECT 1 FROM information_schema.schemata WHERE schema_name = $1`, [`tenant_${temp.id}`])).toEqual([]);
    expect(await ds.manager.findOneBy(Tenant, { id: temp.id })).toBeNull();
    // Make the next schema already exist: provisioning fails, and the whole create rolls back.
    const [{ next }] = (await ds.query(`SELECT last_value + 1 AS next FROM tenants_id_seq`)) as Array<{ next: string }>;
    await ds.query(`CREATE SCHEMA "tenant_${next}"`);
    await expect(tenancy.tenants.create({ name: 'doomed' })).rejects.toBeInstanceOf(StorageConflictError);
    expect(await ds.manager.findOneBy(Tenant, { name: 'doomed' })).toBeNull();
    await ds.query(`DROP SCHEMA "tenant_${next}"`);
    expect((await tenancy.tenants.list()).map((t) => t.name).sort()).toEqual(['acme', 'globex']);
  });

  it('migrateAll synchronizes every tenant schema with progress, isolates one failure, and summarizes', async () => {
    await ds.query(`DROP TABLE "tenant_${acme.id}".settings`);
    const orphan = await ds.manager.save(Tenant, { name: 'no-schema' }); // a tenant row whose schema was never created
    const progress: Array<[number, boolean]> = [];
    const summary = await tenancy.migrateAll({ concurrency: 2, onProgress: (p) => progress.push([p.done, p.ok]) });
    expect(summary.total).toBe(3);
    expect(summary.succeeded.sort()).toEqual([acme.id, globex.id].sort());
    expect(summary.failed.map((f) => f.tenant)).toEqual([orphan.id]);
    expect(progress.map(([done]) => done)).toEqual([1, 2, 3]);
    expect(await ds.query(`SELECT count(*)::int AS n FROM "tenant_${acme.id}".settings`)).toEqual([{ n: 0 }]);
    await ds.manager.delete(Tenant, { id: orphan.id });
  });

  it('200 tenants: provisioned, each sees only its own rows', async () => {
    const created: Tenant[] = [];
    for (let batch = 0; batch < 50; batch++) {
      const four = await Promise.all([0, 1, 2, 3].map((i) => tenancy.tenants.create({ name: `bulk-${batch * 4 + i}` })));
      created.push(...(four as Tenant[]));
    }
    await Promise.all(created.map((t) => tenancy.manager(t).insert(Tag, { label: `tag-of-${t.id}` })));
    const seen = await Promise.all(created.map(async (t) => (await tenancy.manager(t).find(Tag)).map((x) => x.label)));
    expect(seen.every((labels, i) => labels.length === 1 && labels[0] === `tag-of-${created[i]!.id}`)).toBe(true);
  }, 120_000);

  it('refuses bad configuration and bad schema names', () => {
    const sqlite = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: blogEntities });
    expect(() => new Tenancy(sqlite, { strategy: 'schema' })).toThrow(/better-sqlite3/);
    expect(() => new Tenancy(sqlite, { strategy: 'shard' as never })).toThrow(TenancyConfigError);
    // Row-level security is installed on the main DataSource's tables only: refused where tenants' rows live elsewhere.
    const pg = () => new DataSource({ ...db.options, entities: blogEntities } as never);
    expect(() => new Tenancy(pg(), { strategy: 'schema', rowLevelSecurity: true })).toThrow(/not applied to strategy 'schema'/);
    expect(() => new Tenancy(pg(), { strategy: 'database', rowLevelSecurity: true, database: { dataSourceOptions: () => ({ type: 'postgres' }) } })).toThrow(TenancyConfigError);
    expect(() => new Tenancy(pg(), { rowLevelSecurity: true, shards: { a: { type: 'postgres' } }, shardOf: () => 'a' })).toThrow(/not applied to shards/);
    const evil = new Tenancy(new DataSource({ ...db.options, entities: blogEntities } as never), { strategy: 'schema', schema: { schemaName: () => 'x"; drop' } });
    void evil;
    expect(() => tenancy.manager('not-a-number')).toThrow(MissingTenantError);
  });
});
