import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, MoreThan } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tenancy, type TenancyOptions, TenantMismatchError } from '../../src/index.js';
import { blogEntities, Category, Comment, Post, Setting, Tag, Tenant, User } from '../fixtures/blog.js';
import { adminQuery, createTestDatabase, databaseKinds, type DatabaseKind, type TestDatabase } from '../support/databases.js';
import { startSecondPostgres, type PostgresServer } from '../support/second-postgres.js';

// The same manager API gives the same answers on every strategy, each storage seeded through the
// library itself (rows told apart by title: ids repeat across schemas and databases), shards on two
// real PostgreSQL servers. The full poisoned conformance suite runs per strategy in test/conformance/.

interface StrategyCase {
  name: string;
  kind: DatabaseKind;
  options(db: TestDatabase, extra: { dir: string; prefix: string; second?: PostgresServer; east?: TestDatabase }): TenancyOptions;
}

const pgUrl = (db: TestDatabase, database: string) => {
  const url = new URL(db.options.type === 'postgres' ? db.options.url : 'postgres://x');
  url.pathname = `/${database}`;
  return url.toString();
};

const allCases: StrategyCase[] = [
  { name: 'row on sqlite', kind: 'sqlite', options: () => ({}) },
  { name: 'row on postgres', kind: 'postgres', options: () => ({}) },
  { name: 'schema per tenant on postgres', kind: 'postgres', options: () => ({ strategy: 'schema' }) },
  {
    name: 'database per tenant on sqlite',
    kind: 'sqlite',
    options: (_db, { dir }) => ({ strategy: 'database', database: { dataSourceOptions: (t) => ({ type: 'better-sqlite3', database: join(dir, `${t}.sqlite`), synchronize: true }) } }),
  },
  {
    name: 'database per tenant on postgres',
    kind: 'postgres',
    options: (db, { prefix }) => ({ strategy: 'database', database: { dataSourceOptions: (t) => ({ type: 'postgres', url: pgUrl(db, `${prefix}_${t}`), synchronize: true }) } }),
  },
  {
    name: 'shards on two postgres servers',
    kind: 'postgres',
    options: (_db, { second, east }) => ({
      shards: {
        east: { type: 'postgres', url: east!.options.type === 'postgres' ? east!.options.url : '', synchronize: true },
        west: { type: 'postgres', url: second?.url ?? (east!.options.type === 'postgres' ? east!.options.url : ''), synchronize: true },
      },
      shardOf: (t) => (Number(t) % 2 ? 'east' : 'west'),
    }),
  },
];
const cases = allCases.filter((c) => databaseKinds().includes(c.kind));

describe.each(cases)('core probes: $name', (c) => {
  let db: TestDatabase;
  let east: TestDatabase | undefined;
  let second: PostgresServer | undefined;
  let main: DataSource;
  let tenancy: Tenancy;
  let acme: Tenant;
  let globex: Tenant;
  const dir = mkdtempSync(join(tmpdir(), 'tenancy-strategy-'));
  const prefix = `tenancy_sc_${Math.random().toString(36).slice(2, 8)}`;
  const titles = (posts: Post[]) => posts.map((p) => p.title).sort();

  beforeAll(async () => {
    db = await createTestDatabase(c.kind);
    if (c.name.startsWith('shards')) {
      east = await createTestDatabase('postgres');
      second = await startSecondPostgres();
    }
    main = new DataSource({ ...db.options, entities: blogEntities, synchronize: true } as never);
    tenancy = new Tenancy(main, { defaultManager: 'unscoped', ...c.options(db, { dir, prefix, second, east }) });
    await main.initialize();
    acme = (await tenancy.tenants.create({ name: 'acme' })) as Tenant;
    globex = (await tenancy.tenants.create({ name: 'globex' })) as Tenant;
    for (const [tenant, name] of [[acme, 'acme'], [globex, 'globex']] as const) {
      const em = tenancy.manager(tenant);
      await em.transaction(async (tx) => {
        const author = await tx.save(User, { name: `${name}-author` });
        const category = await tx.save(Category, { name: `${name}-cat` });
        const tag = await tx.save(Tag, { label: `${name}-tag` });
        const [first] = await tx.save(Post, [
          { title: `${name}-1`, likes: 1, author, category, tags: [tag] },
          { title: `${name}-2`, likes: 2, author },
        ]);
        const comment = tx.create(Comment, { body: `${name}-comment`, post: first });
        comment.pinned = Promise.resolve(first!);
        await comment.pinned;
        await tx.save(comment);
        await tx.save(Setting, { key: `${name}.theme`, value: `${name}-theme` });
      });
    }
  });
  afterAll(async () => {
    await tenancy?.destroy();
    await main?.destroy();
    await db?.drop();
    await east?.drop();
    await second?.remove();
    if (c.kind === 'postgres' && c.name.startsWith('database')) {
      for (const t of [acme, globex]) if (t) await adminQuery(`DROP DATABASE IF EXISTS ${prefix}_${t.id} WITH (FORCE)`);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('find / findBy / count / sum / exists see only the tenant; OR criteria cannot escape', async () => {
    const em = tenancy.manager(acme);
    expect(titles(await em.find(Post))).toEqual(['acme-1', 'acme-2']);
    expect(titles(await tenancy.manager(globex).find(Post))).toEqual(['globex-1', 'globex-2']);
    expect(titles(await em.findBy(Post, [{ title: 'globex-1' }, { likes: MoreThan(0) }]))).toEqual(['acme-1', 'acme-2']);
    expect(await em.count(Post)).toBe(2);
    expect(Number(await em.sum(Post, 'likes'))).toBe(3);
    expect(await em.existsBy(Post, { title: 'globex-2' })).toBe(false);
  });

  it('joins, relations, eager and lazy relations, relation ids and subqueries stay in the tenant', async () => {
    const em = tenancy.manager(acme);
    const withRelations = await em.findOneOrFail(Post, { where: { title: 'acme-1' }, relations: { tags: true, comments: true, author: true } });
    expect([withRelations.category?.name, withRelations.tags.map((t) => t.label), withRelations.comments.map((x) => x.body)]).toEqual([
      'acme-cat',
      ['acme-tag'],
      ['acme-comment'],
    ]);
    const users = await em.find(User, { relations: { posts: true } });
    expect(users.flatMap((u) => u.posts.map((p) => p.title)).sort()).toEqual(['acme-1', 'acme-2']);
    expect(users.flatMap((u) => u.postIds)).toHaveLength(2);
    const comment = await em.findOneByOrFail(Comment, { body: 'acme-comment' });
    expect((await comment.pinned)?.title).toBe('acme-1');
    await tenancy.open(acme);
    const qb = em.createQueryBuilder(Post, 'p');
    const withComments = await qb.where(`p.id IN ${qb.subQuery().select('c.postId').from(Comment, 'c').getQuery()}`).getMany();
    expect(titles(withComments)).toEqual(['acme-1']);
  });

  it('overlapping operations of both tenants never see each other (pooled connections, open DataSources)', async () => {
    const tenants = [acme, globex];
    const results = await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const tenant = tenants[i % 2]!;
        const em = tenancy.manager(tenant);
        const label = `${tenant.name}-overlap-${i}`;
        // SQLite has one connection per DataSource: no concurrent transactions there (a TypeORM/SQLite limit).
        if (c.kind === 'sqlite') await em.insert(Tag, { label });
        else await (i % 3 ? em.save(Tag, { label }) : em.transaction((tx) => tx.insert(Tag, { label })));
        const labels = (await em.find(Tag)).map((t) => t.label);
        return labels.every((label) => label.startsWith(`${tenant.name}-`));
      }),
    );
    expect(results.every(Boolean)).toBe(true);
    for (const tenant of tenants) {
      const labels = (await tenancy.manager(tenant).find(Tag)).map((t) => t.label);
      expect(labels.filter((l) => l.includes('-overlap-'))).toHaveLength(30);
      expect(labels.every((l) => l.startsWith(`${tenant.name}-`))).toBe(true);
    }
  });

  it('writes never reach the other tenant; a foreign tenantId is refused; transactions commit and roll back', async () => {
    const em = tenancy.manager(acme);
    expect((await em.update(Post, { title: 'globex-1' }, { likes: 99 })).affected ?? 0).toBe(0);
    expect((await em.delete(Post, { title: 'globex-2' })).affected ?? 0).toBe(0);
    await expect(em.insert(Post, { title: 'smuggled', tenantId: globex.id })).rejects.toBeInstanceOf(TenantMismatchError);
    await expect(
      em.transaction(async (tx) => {
        await tx.insert(Post, { title: 'rolled-back' });
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    await em.upsert(Setting, { key: 'acme.theme', value: 'acme-new' }, ['key']);
    await em.upsert(Setting, { key: 'globex.theme', value: 'taken-over?' }, ['key']).catch(() => undefined); // a PK clash on shared tables
    const globexSide = tenancy.manager(globex);
    expect(titles(await globexSide.find(Post))).toEqual(['globex-1', 'globex-2']);
    expect((await globexSide.findOneByOrFail(Post, { title: 'globex-1' })).likes).toBe(1);
    expect((await globexSide.findOneByOrFail(Setting, { key: 'globex.theme' })).value).toBe('globex-theme');
    expect((await em.findOneByOrFail(Setting, { key: 'acme.theme' })).value).toBe('acme-new');
    expect(await em.countBy(Post, { title: 'rolled-back' })).toBe(0);
  });
});
