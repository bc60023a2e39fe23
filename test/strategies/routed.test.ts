import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, EntitySchema, type EntitySubscriberInterface, EventSubscriber, type InsertEvent } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MissingTenantError, StorageUnavailableError, Tenancy, TenancyConfigError, TenantEntityManager } from '../../src/index.js';
import { blogEntities, Category, Comment, Post, Tag, Tenant, User } from '../fixtures/blog.js';
import { adminQuery, createTestDatabase, databaseKinds, type TestDatabase } from '../support/databases.js';
import { type PostgresServer, startSecondPostgres } from '../support/second-postgres.js';

const titles = (posts: Post[]) => posts.map((p) => p.title).sort();

// An application subscriber configured on the main DataSource only.
const audited: Array<[string, number]> = [];
@EventSubscriber()
class PostAudit implements EntitySubscriberInterface<Post> {
  listenTo() {
    return Post;
  }
  afterInsert(event: InsertEvent<Post>) {
    audited.push([event.entity.title, event.entity.tenantId]);
  }
}

describe.each(databaseKinds())("strategy 'database' on %s", (kind) => {
  let db: TestDatabase;
  let main: DataSource;
  let tenancy: Tenancy;
  const dir = mkdtempSync(join(tmpdir(), 'tenancy-dbs-'));
  const prefix = `tenancy_db_${Math.random().toString(36).slice(2, 8)}`;
  let opened = 0;
  const tenantOptions = (tenantId: string | number) => {
    opened++;
    if (kind === 'sqlite') return { type: 'better-sqlite3' as const, database: join(dir, `tenant-${tenantId}.sqlite`), synchronize: true };
    const url = new URL(db.options.type === 'postgres' ? db.options.url : '');
    url.pathname = `/${prefix}_${tenantId}`;
    return { type: 'postgres' as const, url: url.toString(), synchronize: true };
  };
  let tenants: Tenant[];

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    main = new DataSource({ ...db.options, entities: blogEntities, subscribers: [PostAudit], synchronize: true } as never);
    tenancy = new Tenancy(main, { strategy: 'database', defaultManager: 'unscoped', database: { dataSourceOptions: tenantOptions, maxOpen: 2, idleTimeoutMs: 60_000 } });
    await main.initialize();
    tenants = [];
    for (const name of ['acme', 'globex', 'initech']) tenants.push((await tenancy.tenants.create({ name })) as Tenant);
  });
  afterAll(async () => {
    await tenancy?.destroy();
    await main?.destroy();
    for (const t of tenants ?? []) if (kind === 'postgres') await adminQuery(`DROP DATABASE IF EXISTS ${prefix}_${t.id} WITH (FORCE)`);
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('each tenant gets its own database; the same manager API reads and writes only there', async () => {
    audited.length = 0;
    for (const t of tenants) {
      const em = tenancy.manager(t);
      expect(em).toBeInstanceOf(TenantEntityManager);
      expect(em.tenantId).toBe(t.id);
      const alice = await em.save(User, { name: `alice-of-${t.name}` });
      const category = await em.save(Category, { name: `${t.name}-cat` });
      await em.save(Post, [{ title: `${t.name}-1`, author: alice, category }, { title: `${t.name}-2`, author: alice }]);
    }
    // The main DataSource's subscribers run in every tenant database.
    expect(audited.filter(([title]) => title.startsWith('acme-'))).toEqual([['acme-1', tenants[0]!.id], ['acme-2', tenants[0]!.id]]);
    for (const t of tenants) {
      const em = tenancy.manager(t);
      expect(titles(await em.find(Post))).toEqual([`${t.name}-1`, `${t.name}-2`]);
      const users = await em.getRepository(User).find({ relations: { posts: true } });
      expect(users.flatMap((u) => u.posts.map((p) => p.title)).sort()).toEqual([`${t.name}-1`, `${t.name}-2`]);
      expect(await em.transaction((tx) => tx.count(Post))).toBe(2);
    }
    expect(await main.manager.count(Post)).toBe(0); // the main DataSource is only the catalog
    const direct = new DataSource({ ...tenantOptions(tenants[1]!.id), entities: blogEntities, synchronize: false } as never);
    await direct.initialize();
    expect(titles(await direct.manager.find(Post))).toEqual(['globex-1', 'globex-2']);
    await direct.destroy();
  });

  it('concurrent first use opens once; at most maxOpen (2) stay open, least recently used closed first', async () => {
    await tenancy.destroy();
    opened = 0;
    await Promise.all(Array.from({ length: 10 }, () => tenancy.manager(tenants[0]!).count(Post)));
    expect(opened).toBe(1);
    await tenancy.manager(tenants[1]!).count(Post);
    await tenancy.manager(tenants[2]!).count(Post); // the third: tenants[0] (least recently used) closes
    await new Promise((r) => setTimeout(r, 20));
    expect(opened).toBe(3);
    await tenancy.manager(tenants[2]!).count(Post);
    await tenancy.manager(tenants[1]!).count(Post);
    expect(opened).toBe(3); // still open
    await tenancy.manager(tenants[0]!).count(Post);
    expect(opened).toBe(4); // reopened
    await tenancy.destroy();
  });

  it('createQueryBuilder needs the tenant database open: await tenancy.open(t)', async () => {
    await tenancy.destroy();
    const em = tenancy.manager(tenants[0]!);
    expect(() => em.createQueryBuilder(Post, 'p')).toThrow(TenancyConfigError);
    await tenancy.open(tenants[0]!);
    expect(await em.createQueryBuilder(Post, 'p').getCount()).toBe(2);
  });

  it('migrateAll migrates every tenant database and isolates one that cannot open; remove drops the database', async () => {
    const broken = (await main.manager.save(Tenant, { name: 'no-database' })) as Tenant;
    if (kind === 'sqlite') {
      // SQLite would create the file; make its folder unusable instead.
      rmSync(dir, { recursive: true, force: true });
    }
    const summary = await tenancy.migrateAll({ concurrency: 2 });
    if (kind === 'postgres') {
      expect(summary.failed.map((f) => f.tenant)).toEqual([broken.id]);
      expect(summary.failed[0]!.error).toBeInstanceOf(StorageUnavailableError);
      expect(summary.succeeded.sort()).toEqual(tenants.map((t) => t.id).sort());
    } else {
      expect(summary.total).toBe(4);
    }
    await main.manager.delete(Tenant, { id: broken.id });
    if (kind === 'postgres') {
      await tenancy.tenants.remove(tenants[2]!);
      expect(await adminQuery(`SELECT 1 FROM pg_database WHERE datname = $1`, [`${prefix}_${tenants[2]!.id}`])).toEqual([]);
      tenants.pop();
    }
  });
});

describe.skipIf(!databaseKinds().includes('postgres'))('shards: row-level tenancy over two PostgreSQL servers', () => {
  let second: PostgresServer | undefined;
  let db: TestDatabase;
  let eastDb: TestDatabase;
  let main: DataSource;
  let tenancy: Tenancy;
  const tenants: Tenant[] = [];

  beforeAll(async () => {
    second = await startSecondPostgres();
    if (!second && process.env.CI === 'true') throw new Error('no PostgreSQL binaries to start a second server for the shard tests');
    db = await createTestDatabase('postgres'); // the catalog: the tenant table
    eastDb = await createTestDatabase('postgres'); // shard "east" on the first server, shard "west" on the second
    const firstUrl = eastDb.options.type === 'postgres' ? eastDb.options.url : '';
    main = new DataSource({ ...db.options, entities: blogEntities, synchronize: true } as never);
    tenancy = new Tenancy(main, {
      defaultManager: 'unscoped',
      shards: {
        east: { type: 'postgres', url: firstUrl, synchronize: true },
        west: { type: 'postgres', url: second?.url ?? firstUrl, synchronize: true, connectTimeoutMS: 2_000 },
      },
      shardOf: (tenantId) => (Number(tenantId) % 2 === 1 ? 'east' : 'west'),
    });
    await main.initialize();
    for (const name of ['a', 'b', 'c', 'd']) tenants.push((await tenancy.tenants.create({ name })) as Tenant);
  });
  afterAll(async () => {
    await tenancy?.destroy();
    await main?.destroy();
    await db?.drop();
    await eastDb?.drop();
    await second?.remove();
  });

  it('routes each tenant to its shard; row-level scoping holds inside each shard', async (ctx) => {
    if (!second) return ctx.skip();
    for (const t of tenants) await tenancy.manager(t).save(Tag, [{ label: `${t.name}-1` }, { label: `${t.name}-2` }]);
    for (const t of tenants) {
      expect((await tenancy.manager(t).find(Tag)).map((x) => x.label).sort()).toEqual([`${t.name}-1`, `${t.name}-2`]);
    }
    const west = new DataSource({ type: 'postgres', url: second!.url, entities: blogEntities } as never);
    await west.initialize();
    const labels = ((await west.query('SELECT label FROM tags ORDER BY label')) as Array<{ label: string }>).map((r) => r.label);
    await west.destroy();
    const westNames = tenants.filter((t) => t.id % 2 === 0).map((t) => t.name);
    expect(labels).toEqual(westNames.flatMap((n) => [`${n}-1`, `${n}-2`]).sort());
    const progress: Array<[string | undefined, unknown]> = [];
    const summary = await tenancy.migrateAll({ onProgress: (p) => progress.push([p.shard, p.tenant]) });
    expect(summary.shards!.succeeded.sort()).toEqual(['east', 'west']);
    expect(summary.shards!.failed).toEqual([]);
    expect(progress.sort()).toEqual([['east', undefined], ['west', undefined]]);
    // Tenants in succeeded (by their shard), shard names never.
    expect([summary.total, [...summary.succeeded].sort()]).toEqual([4, tenants.map((t) => t.id).sort()]);
  });

  it('a shard that is down fails only its tenants, with StorageUnavailableError; it recovers when it is back', async (ctx) => {
    if (!second) return ctx.skip();
    const eastTenant = tenants.find((t) => t.id % 2 === 1)!;
    const westTenant = tenants.find((t) => t.id % 2 === 0)!;
    // Both shards open when the west server goes down: every later use maps the failure.
    expect((await tenancy.manager(westTenant).find(Tag)).length).toBe(2);
    await second!.stop();
    for (let i = 0; i < 2; i++) await expect(tenancy.manager(westTenant).find(Tag)).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(tenancy.manager(westTenant).transaction((tx) => tx.save(Tag, { label: 'lost' }))).rejects.toBeInstanceOf(StorageUnavailableError);
    expect((await tenancy.manager(eastTenant).find(Tag)).length).toBe(2);
    // migrateAll: the shard that is down fails, with its tenants; the other's tenants succeed.
    const summary = await tenancy.migrateAll();
    expect(summary.shards!.succeeded).toEqual(['east']);
    expect(summary.shards!.failed.map((f) => [f.shard, f.error instanceof StorageUnavailableError])).toEqual([['west', true]]);
    expect(summary.failed.map((f) => f.tenant).sort()).toEqual(tenants.filter((t) => t.id % 2 === 0).map((t) => t.id).sort());
    expect([...summary.succeeded].sort()).toEqual(tenants.filter((t) => t.id % 2 === 1).map((t) => t.id).sort());
    await second!.start();
    expect((await tenancy.manager(westTenant).find(Tag)).length).toBe(2);
  });
});

describe("strategy 'database': idle DataSources close", () => {
  it('closes a tenant DataSource unused for idleTimeoutMs, and reopens it on the next use', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tenancy-idle-'));
    let opened = 0;
    const main = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: blogEntities, synchronize: true });
    const tenancy = new Tenancy(main, {
      strategy: 'database',
      defaultManager: 'unscoped',
      database: { idleTimeoutMs: 30, dataSourceOptions: (t) => (opened++, { type: 'better-sqlite3', database: join(dir, `${t}.sqlite`), synchronize: true }) },
    });
    await main.initialize();
    const t = (await tenancy.tenants.create({ name: 'idle' })) as Tenant;
    await tenancy.manager(t).count(Tag);
    const before = opened;
    await new Promise((r) => setTimeout(r, 120));
    await tenancy.manager(t).count(Tag);
    expect(opened).toBe(before + 1);
    await tenancy.destroy();
    await main.destroy();
    expect(existsSync(join(dir, `${t.id}.sqlite`))).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe.each(databaseKinds().map((kind) => [kind, kind === 'sqlite' ? 'database' : 'shards'] as const))(
  "defaultManager 'context' on %s with %s: the main DataSource's entry points route to the tenant's storage inside run()",
  (kind, layout) => {
    let db: TestDatabase;
    let main: DataSource;
    let tenancy: Tenancy;
    const shardDbs: TestDatabase[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'tenancy-context-'));
    let acme: Tenant;
    let globex: Tenant;

    beforeAll(async () => {
      db = await createTestDatabase(kind);
      main = new DataSource({ ...db.options, entities: blogEntities, synchronize: true } as never);
      if (layout === 'database') {
        tenancy = new Tenancy(main, { strategy: 'database', database: { dataSourceOptions: (t) => ({ type: 'better-sqlite3', database: join(dir, `${t}.sqlite`), synchronize: true }) } });
      } else {
        shardDbs.push(await createTestDatabase('postgres'), await createTestDatabase('postgres'));
        const url = (i: number) => (shardDbs[i]!.options.type === 'postgres' ? shardDbs[i]!.options.url : '');
        tenancy = new Tenancy(main, {
          shards: { east: { type: 'postgres', url: url(0), synchronize: true }, west: { type: 'postgres', url: url(1), synchronize: true } },
          shardOf: (t) => (Number(t) % 2 ? 'east' : 'west'),
        });
      }
      await main.initialize();
      acme = (await tenancy.tenants.create({ name: 'acme' })) as Tenant;
      globex = (await tenancy.tenants.create({ name: 'globex' })) as Tenant;
    });
    afterAll(async () => {
      await tenancy?.destroy();
      await main?.destroy();
      await db?.drop();
      for (const shard of shardDbs) await shard.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('dataSource.manager, a repository taken at startup, dataSource.transaction and createQueryBuilder reach the bound tenant only', async () => {
      const repository = main.getRepository(Post); // as @InjectRepository(Post) gets it, outside any request
      for (const t of [acme, globex]) {
        await tenancy.run(t, async () => {
          await main.manager.save(Post, { title: `${t.name}-manager` });
          await repository.save({ title: `${t.name}-repository` });
          await main.transaction((tx) => tx.insert(Post, { title: `${t.name}-transaction` }));
        });
      }
      // Nothing landed in the main DataSource's own tables.
      expect(await main.query('SELECT COUNT(*) AS n FROM posts')).toEqual([{ n: kind === 'sqlite' ? 0 : '0' }]);
      for (const t of [acme, globex]) {
        const own = [`${t.name}-manager`, `${t.name}-repository`, `${t.name}-transaction`];
        expect(titles(await tenancy.manager(t).find(Post))).toEqual(own.sort());
        const seen = await tenancy.run(t, async () => {
          await tenancy.open(t);
          return [titles(await repository.find()), titles(await main.createQueryBuilder(Post, 'p').getMany()), await main.manager.count(Post)];
        });
        expect(seen).toEqual([own.sort(), own.sort(), 3]);
      }
      // The main DataSource's own runners stay on it inside run(): the tenant catalog lists every tenant
      // (with the tenant's DataSource closed, a builder sent there would throw).
      await tenancy.destroy();
      const listed = await tenancy.run(acme, async () => (await tenancy.tenants.list()).map((x) => (x as Tenant).name).sort());
      expect(listed).toEqual(['acme', 'globex']);
      // Outside run(): shared entities of the main DataSource work, scoped ones are refused.
      expect((await main.manager.find(Tenant)).map((x) => x.name).sort()).toEqual(['acme', 'globex']);
      await expect(main.manager.find(Post)).rejects.toBeInstanceOf(MissingTenantError);
      await expect(repository.find()).rejects.toBeInstanceOf(MissingTenantError);
    });
  },
);

describe("strategy 'database': repositories and lazy loads of routed managers", () => {
  const Label = new EntitySchema<{ id: number; text: string }>({ name: 'Label', tableName: 'labels', columns: { id: { type: Number, primary: true, generated: true }, text: { type: String } } });
  const Color = new EntitySchema<{ id: number; hex: string }>({ name: 'Color', tableName: 'colors', columns: { id: { type: Number, primary: true, generated: true }, hex: { type: String } } });
  const dir = mkdtempSync(join(tmpdir(), 'tenancy-routed-repos-'));
  let main: DataSource;
  let tenancy: Tenancy;
  let tenant: Tenant;

  beforeAll(async () => {
    main = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [...blogEntities, Label, Color], synchronize: true });
    tenancy = new Tenancy(main, { strategy: 'database', database: { dataSourceOptions: (t) => ({ type: 'better-sqlite3', database: join(dir, `${t}.sqlite`), synchronize: true }) } });
    await main.initialize();
    tenant = (await tenancy.tenants.create({ name: 'acme' })) as Tenant;
  });
  afterAll(async () => {
    await tenancy?.destroy();
    await main?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('each entity gets its own repository, EntitySchemas included (their names print alike)', async () => {
    const em = tenancy.manager(tenant);
    expect([em.getRepository(Label).metadata.name, em.getRepository(Color).metadata.name]).toEqual(['Label', 'Color']);
    expect(em.getRepository(Label)).toBe(em.getRepository(Label));
    await em.getRepository(Color).save({ hex: '#fff' });
    expect(await em.getRepository(Label).count()).toBe(0);
    const routedDefault = await tenancy.run(tenant, async () => [main.getRepository(Label).metadata.name, main.getRepository(Color).metadata.name]);
    expect(routedDefault).toEqual(['Label', 'Color']);
  });

  it('a lazy relation of an entity whose tenant DataSource has closed is a TenancyConfigError, not a load elsewhere', async () => {
    const em = tenancy.manager(tenant);
    const post = await em.save(Post, { title: 'p' });
    const comment = await em.save(em.create(Comment, { body: 'c' }));
    await tenancy.open(tenant);
    await em.createQueryBuilder().relation(Comment, 'pinned').of(comment.id).set(post.id);
    const loaded = await em.findOneByOrFail(Comment, { id: comment.id });
    await tenancy.destroy();
    expect(() => loaded.pinned).toThrow(TenancyConfigError);
    const again = await em.findOneByOrFail(Comment, { id: comment.id }); // reopens the tenant database
    expect((await again.pinned)?.title).toBe('p');
  });
});
