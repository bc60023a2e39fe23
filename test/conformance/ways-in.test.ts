import type { SelectQueryBuilder } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TenancyError, TenantMismatchError, UnsafeQueryError } from '../../src/index.js';
import { Folder, Post, Tag, Tenant, User } from '../fixtures/blog.js';
import { conformanceCases, createBlogWorld, type BlogWorld } from '../support/blog-world.js';

// Rule 8 (every way in is the same way in) and rule 9 (the tenant row), on every database and
// strategy: tables named by strings, subqueries from callbacks, and the tenant table itself.
// Each probe is tenant 1 (acme) reaching for tenant 2's (globex's) rows.

type Outcome = 'scoped' | 'refused';

/** Spellings of the posts table and what a tenant manager must do with each on this world. */
function postsSpellings(w: BlogWorld, database: string): Array<[string, Outcome]> {
  const kind = w.case.kind;
  const qualified: Outcome = w.case.layout === 'schema' ? 'refused' : 'scoped';
  const spellings: Array<[string, Outcome]> = [
    ['posts', 'scoped'],
    ['  posts ', 'scoped'],
    ['"posts"', 'scoped'],
    ['`posts`', 'scoped'],
    ['[posts]', 'scoped'],
    ['POSTS', 'scoped'],
    ['Posts', 'scoped'],
    // PostgreSQL compares quoted names exactly: "POSTS" is another (here missing) table.
    ['"POSTS"', kind === 'postgres' ? 'refused' : 'scoped'],
    ['(SELECT * FROM posts)', 'refused'],
    ['no_such_table', 'refused'],
    ['posts p2', 'refused'],
    ['posts; DELETE FROM posts', 'refused'],
  ];
  if (kind === 'postgres') {
    spellings.push(
      ['public.posts', qualified],
      ['"public"."posts"', qualified],
      ['PUBLIC.POSTS', qualified],
      [`${database}.public.posts`, qualified],
      ['other_schema.posts', 'refused'],
      ['information_schema.posts', 'refused'],
      [`"${database}x".public.posts`, 'refused'],
      ['"Public".posts', 'refused'],
    );
    // Tenant databases and shards: the catalog database is another database (PostgreSQL cannot reach it).
    const catalog = (w.dataSource.driver as { database?: string }).database!;
    if (catalog !== database) spellings.push([`${catalog}.public.posts`, 'refused']);
    if (w.case.layout === 'schema') spellings.push([`tenant_${w.t2}.posts`, 'refused'], [`tenant_${w.t1}.posts`, 'refused']);
  } else if (kind === 'sqlite') {
    spellings.push(['main.posts', qualified], ['MAIN.Posts', qualified], ['"main"."POSTS"', qualified], ['temp.posts', 'refused'], ['other.posts', 'refused']);
  } else {
    spellings.push([`${database}.posts`, qualified], [`\`${database}\`.\`posts\``, qualified], ['mysql.posts', 'refused'], ['test.posts', 'refused']);
  }
  return spellings;
}

const acmeTitles = ['acme-1', 'acme-2', 'acme-poisoned'];

describe.each(await conformanceCases())('every way in is the same way in, on $name', (c) => {
  let w: BlogWorld;
  beforeAll(async () => {
    w = await createBlogWorld(c);
  });
  afterAll(async () => w?.close());

  /** The posts spellings for this world, qualified by the database tenant 1's rows live in. */
  async function spellings() {
    const storage = await w.dataSourceOf(w.t1);
    return postsSpellings(w, (storage.driver as { database?: string }).database ?? '');
  }

  /** Runs `fn`; a TenancyError counts as refused. Returns what happened. */
  async function attempt<T>(fn: () => Promise<T>): Promise<{ refused: true; error: unknown } | { refused: false; value: T }> {
    try {
      return { refused: false, value: await fn() };
    } catch (error) {
      if (!(error instanceof TenancyError)) throw error;
      return { refused: true, error };
    }
  }

  async function globexSnapshot() {
    return JSON.stringify(await w.inspect.find(Post, { where: { tenantId: w.t2 }, withDeleted: true, order: { id: 'ASC' } }));
  }

  it('reads from a table named by a string: scoped however it is spelled, or refused', async () => {
    const em = w.tenancy.manager(w.t1);
    const wrong: string[] = [];
    for (const [spelling, expected] of await spellings()) {
      const result = await attempt(() => em.createQueryBuilder().select('p.title', 'title').from(spelling, 'p').getRawMany<{ title: string }>());
      const got = result.refused ? 'refused' : 'scoped';
      if (got !== expected) wrong.push(`${spelling}: ${got}, expected ${expected}`);
      if (!result.refused && JSON.stringify(result.value.map((r) => r.title).sort()) !== JSON.stringify(acmeTitles)) {
        wrong.push(`${spelling}: read ${JSON.stringify(result.value.map((r) => r.title))}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('addFrom and joins of a table named by a string are scoped too', async () => {
    const em = w.tenancy.manager(w.t1);
    const wrong: string[] = [];
    for (const [spelling, expected] of await spellings()) {
      const added = await attempt(() => em.createQueryBuilder(Tag, 't').select('p.title', 'title').addFrom(spelling, 'p').getRawMany<{ title: string }>());
      if ((added.refused ? 'refused' : 'scoped') !== expected) wrong.push(`addFrom ${spelling}: ${added.refused ? 'refused' : 'scoped'}`);
      if (!added.refused && added.value.some((r) => !acmeTitles.includes(r.title))) wrong.push(`addFrom ${spelling}: read ${JSON.stringify(added.value)}`);
      // TypeORM reads a dotted join target as alias.relation; unqualified spellings name tables.
      if (spelling.includes('.')) continue;
      const joined = await attempt(() =>
        em.createQueryBuilder(User, 'u').select('p.title', 'title').innerJoin(spelling, 'p', 'p.authorId = u.id').getRawMany<{ title: string }>(),
      );
      if ((joined.refused ? 'refused' : 'scoped') !== expected) wrong.push(`join ${spelling}: ${joined.refused ? 'refused' : 'scoped'}`);
      if (!joined.refused && JSON.stringify(joined.value.map((r) => r.title).sort()) !== JSON.stringify(acmeTitles)) {
        wrong.push(`join ${spelling}: read ${JSON.stringify(joined.value)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("update, delete, soft delete and insert through a string target never touch another tenant's rows", async () => {
    const em = w.tenancy.manager(w.t1);
    const before = await globexSnapshot();
    const postsBefore = await w.inspect.count(Post, { withDeleted: true });
    const wrong: string[] = [];
    for (const [spelling, expected] of await spellings()) {
      const g = w.posts.g1.id;
      const writes: Array<[string, () => Promise<{ affected?: number | null } | unknown>]> = [
        ['update', () => em.createQueryBuilder().update(spelling).set({ title: 'hijacked' }).where('id = :id', { id: g }).execute()],
        ['delete', () => em.createQueryBuilder().delete().from(spelling).where('id = :id', { id: g }).execute()],
        ['softDelete', () => em.createQueryBuilder().softDelete().from(spelling).where('id = :id', { id: g }).execute()],
      ];
      for (const [name, write] of writes) {
        const result = await attempt(write);
        if (!result.refused) {
          const affected = (result.value as { affected?: number | null }).affected;
          if (expected === 'refused') wrong.push(`${name} ${spelling}: ran`);
          else if (affected !== 0 && affected !== undefined && affected !== null) wrong.push(`${name} ${spelling}: affected ${affected}`);
        } else if (expected === 'scoped' && name !== 'softDelete') {
          wrong.push(`${name} ${spelling}: refused ${String(result.error)}`);
        }
      }
      const inserted = await attempt(() => em.createQueryBuilder().insert().into(spelling).values({ title: 'planted', tenantId: w.t2 }).execute());
      if (!inserted.refused) wrong.push(`insert ${spelling}: ran`);
      else if (expected === 'scoped' && !(inserted.error instanceof TenantMismatchError)) wrong.push(`insert ${spelling}: ${String(inserted.error)}`);
    }
    expect(wrong).toEqual([]);
    expect(await globexSnapshot()).toBe(before);
    expect(await w.inspect.count(Post, { withDeleted: true })).toBe(postsBefore);
  });

  it('a string target that resolves is written as the tenant: stamp and guard apply', async () => {
    const em = w.tenancy.manager(w.t1);
    const spelling = w.case.kind === 'postgres' ? 'POSTS' : 'Posts';
    await em.createQueryBuilder().insert().into(spelling).values({ title: 'via-string' }).execute();
    const row = await w.inspect.findOneByOrFail(Post, { title: 'via-string' });
    expect(row.tenantId).toBe(w.t1);
    const moved = await attempt(() => em.createQueryBuilder().update(spelling).set({ tenantId: w.t2 }).where('id = :id', { id: row.id }).execute());
    expect(moved.refused && moved.error).toBeInstanceOf(TenantMismatchError);
    await w.inspect.storages[0]!.manager.delete(Post, { title: 'via-string' });
    for (const s of w.inspect.storages.slice(1)) await s.manager.delete(Post, { title: 'via-string' });
  });

  it('common table expressions named in from() work when built by the same manager; unknown names do not', async () => {
    const em = w.tenancy.manager(w.t1);
    const rows = await em
      .createQueryBuilder()
      .addCommonTableExpression(em.createQueryBuilder(Post, 'p').select('p.title', 'title'), 'own_posts')
      .select('c.title', 'title')
      .from('own_posts', 'c')
      .getRawMany<{ title: string }>();
    expect(rows.map((r) => r.title).sort()).toEqual(acmeTitles);
    // The name is checked when the query renders: a CTE added after from() counts, a missing one is refused.
    const late = em.createQueryBuilder().select('c.title', 'title').from('late_cte', 'c');
    late.addCommonTableExpression(em.createQueryBuilder(Post, 'p').select('p.title', 'title'), 'late_cte');
    expect((await late.getRawMany<{ title: string }>()).map((r) => r.title).sort()).toEqual(acmeTitles);
    expect(() => em.createQueryBuilder().select('c.title', 'title').from('missing_cte', 'c').getQuery()).toThrow(UnsafeQueryError);
  });

  describe('junction and closure tables (links between tenant rows)', () => {
    const q = (name: string) => w.dataSource.driver.escape(name);

    it("reading a junction table shows only links between the tenant's own rows", async () => {
      const em = w.tenancy.manager(w.t1);
      const links = await em.createQueryBuilder().select(`j.${q('postsId')}`, 'post').addSelect(`j.${q('tagsId')}`, 'tag').from('post_tags', 'j').getRawMany<{ post: number; tag: number }>();
      const acmeTag = (await w.inspect.findOneByOrFail(Tag, { label: 'acme-tag' })).id;
      expect(links.map((l) => [Number(l.post), Number(l.tag)]).sort()).toEqual([
        [w.posts.a1.id, acmeTag],
        [w.posts.a2.id, acmeTag],
      ].sort());
      const joined = await em.createQueryBuilder(Post, 'p').select('p.title', 'title').innerJoin('post_tags', 'j', `j.${q('postsId')} = p.id`).getRawMany<{ title: string }>();
      expect(joined.map((r) => r.title).sort()).toEqual(['acme-1', 'acme-2']);
    });

    it("a closure table shows only the tenant's own ancestry", async () => {
      const em = w.tenancy.manager(w.t1);
      const ownFolders = new Set((await em.find(Folder)).map((f) => f.id));
      const rows = await em.createQueryBuilder().select('*').from('folders_closure', 'c').getRawMany<Record<string, number>>();
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) for (const id of Object.values(row)) expect(ownFolders.has(Number(id))).toBe(true);
    });

    it("writing a junction table: links to another tenant's rows are refused, its links are not deleted", async () => {
      const em = w.tenancy.manager(w.t1);
      const links = () => w.inspect.count(Post, { where: {}, relations: { tags: true } });
      void links;
      const countLinks = async () => {
        let n = 0;
        for (const s of w.inspect.storages) n += Number(((await s.query(`SELECT COUNT(*) AS n FROM ${q('post_tags')}`)) as Array<{ n: number }>)[0]!.n);
        return n;
      };
      const before = await countLinks();
      const globexTag = (await w.inspect.findOneByOrFail(Tag, { label: 'globex-tag' })).id;
      const acmeTag = (await w.inspect.findOneByOrFail(Tag, { label: 'acme-tag' })).id;
      await expect(em.createQueryBuilder().insert().into('post_tags').values({ postsId: w.posts.a1.id, tagsId: globexTag }).execute()).rejects.toBeInstanceOf(TenantMismatchError);
      await expect(em.createQueryBuilder().insert().into('post_tags').values({ postsId: w.posts.g2.id, tagsId: acmeTag }).execute()).rejects.toBeInstanceOf(TenantMismatchError);
      const deleted = await em.createQueryBuilder().delete().from('post_tags').where(`${q('tagsId')} = :t`, { t: globexTag }).execute();
      expect(deleted.affected ?? 0).toBe(0);
      expect(() => em.createQueryBuilder().update('post_tags').set({ tagsId: globexTag }).where(`${q('postsId')} = :p`, { p: w.posts.a1.id }).getQuery()).toThrow(UnsafeQueryError);
      expect(await countLinks()).toBe(before);
      // Own links are written and deleted as usual.
      const acmeOnly = await w.inspect.findOneByOrFail(Post, { title: 'acme-poisoned' });
      await em.createQueryBuilder().insert().into('post_tags').values({ postsId: acmeOnly.id, tagsId: acmeTag }).execute();
      expect(await countLinks()).toBe(before + 1);
      await em.createQueryBuilder().delete().from('post_tags').where(`${q('postsId')} = :p AND ${q('tagsId')} = :t`, { p: acmeOnly.id, t: acmeTag }).execute();
      expect(await countLinks()).toBe(before);
    });
  });

  describe('subqueries from callbacks carry the same tenant or are refused', () => {
    /** Builders a callback could return that are not this tenant's: plain, and another tenant's. */
    const foreign = (): Array<[string, () => SelectQueryBuilder<any>]> => [
      ['plain DataSource builder', () => w.dataSource.createQueryBuilder()],
      ["tenant 2's builder", () => w.tenancy.manager(w.t2).createQueryBuilder()],
    ];

    it('from(fn) and addFrom(fn)', async () => {
      const em = w.tenancy.manager(w.t1);
      for (const [, other] of foreign()) {
        expect(() => em.createQueryBuilder().select('sub.title', 'title').from(() => other().subQuery().select('x.title', 'title').from(Post, 'x'), 'sub')).toThrow(UnsafeQueryError);
        expect(() => em.createQueryBuilder(Tag, 't').addFrom(() => other().subQuery().select('x.title', 'title').from(Post, 'x'), 'sub')).toThrow(UnsafeQueryError);
      }
      const own = await em
        .createQueryBuilder()
        .select('sub.title', 'title')
        .from((qb) => qb.select('x.title', 'title').from(Post, 'x'), 'sub')
        .getRawMany<{ title: string }>();
      expect(own.map((r) => r.title).sort()).toEqual(acmeTitles);
      // An explicit { safe: false } builder is the one way to embed every tenant's rows.
      const bypass = await em
        .createQueryBuilder()
        .select('sub.title', 'title')
        .from(() => em.createQueryBuilder(Post, 'x', { safe: false }).subQuery().select('x.title', 'title').from(Post, 'x'), 'sub')
        .getRawMany<{ title: string }>();
      expect(bypass.length).toBeGreaterThanOrEqual(acmeTitles.length);
    });

    it('select(fn) and addSelect(fn)', async () => {
      const em = w.tenancy.manager(w.t1);
      for (const [, other] of foreign()) {
        expect(() => em.createQueryBuilder(Tag, 't').select('t.id', 'id').addSelect(() => other().subQuery().select('COUNT(*)').from(Post, 'x'), 'n')).toThrow(UnsafeQueryError);
        expect(() => em.createQueryBuilder(Tag, 't').select(() => other().subQuery().select('COUNT(*)').from(Post, 'x'), 'n')).toThrow(UnsafeQueryError);
      }
      const row = await em
        .createQueryBuilder(Tag, 't')
        .select('t.id', 'id')
        .addSelect((qb) => qb.select('COUNT(*)').from(Post, 'x'), 'n')
        .getRawOne<{ n: string | number }>();
      expect(Number(row!.n)).toBe(acmeTitles.length);
    });

    it('leftJoin(fn), innerJoin(fn), leftJoinAndMapMany(..., fn, ...)', async () => {
      const em = w.tenancy.manager(w.t1);
      for (const [, other] of foreign()) {
        const sub = () => other().subQuery().select('x.title', 'title').from(Post, 'x');
        expect(() => em.createQueryBuilder(Tag, 't').leftJoin(sub, 'sub', '1=1')).toThrow(UnsafeQueryError);
        expect(() => em.createQueryBuilder(Tag, 't').innerJoin(sub, 'sub', '1=1')).toThrow(UnsafeQueryError);
        expect(() => em.createQueryBuilder(Tag, 't').leftJoinAndSelect(sub, 'sub', '1=1')).toThrow(UnsafeQueryError);
        expect(() => em.createQueryBuilder(Tag, 't').leftJoinAndMapMany('t.posts', sub, 'sub', '1=1')).toThrow(UnsafeQueryError);
      }
      const own = await em
        .createQueryBuilder(Tag, 't')
        .select('sub.title', 'title')
        .innerJoin((qb) => qb.select('x.title', 'title').from(Post, 'x'), 'sub', '1=1')
        .getRawMany<{ title: string }>();
      expect([...new Set(own.map((r) => r.title))].sort()).toEqual(acmeTitles);
    });

    it("whereExists over fromDummy() of this tenant's builder refuses a plain or another tenant's builder too", () => {
      const em = w.tenancy.manager(w.t1);
      for (const [, other] of foreign()) {
        const inner = other().select('1').from(Post, 'x').where('x.title = :t', { t: 'globex-1' });
        expect(() => em.createQueryBuilder().select('1', 'hit').fromDummy().whereExists(inner).getQuery()).toThrow(UnsafeQueryError);
      }
    });

    it('INSERT ... SELECT into a shared table reads only through this tenant', async () => {
      const em = w.tenancy.manager(w.t1);
      const users = await w.inspect.count(User);
      for (const [, other] of foreign()) {
        const select = other().select('x.title').from(Post, 'x');
        await expect(async () => em.createQueryBuilder().insert().into(User, ['name']).valuesFromSelect(select).execute()).rejects.toBeInstanceOf(UnsafeQueryError);
        await expect(async () =>
          em.createQueryBuilder().insert().into(User, ['name']).valuesFromSelect(() => other().select('x.title').from(Post, 'x')).execute(),
        ).rejects.toBeInstanceOf(UnsafeQueryError);
      }
      expect(await w.inspect.count(User)).toBe(users);
    });
  });

  describe('the tenant row (rule 9)', () => {
    it('a tenant reads only its own tenant row, by any path', async () => {
      const em = w.tenancy.manager(w.t1);
      expect((await em.find(Tenant)).map((t) => t.id)).toEqual([w.t1]);
      expect(await em.findOneBy(Tenant, { id: w.t2 })).toBeNull();
      expect(await em.countBy(Tenant, { name: 'globex' })).toBe(0);
      expect(await em.existsBy(Tenant, { id: w.t2 })).toBe(false);
      expect((await em.getRepository(Tenant).findBy({})).map((t) => t.id)).toEqual([w.t1]);
      const viaBuilder = await em.createQueryBuilder(Tenant, 't').where('t.id = :id OR 1 = 1', { id: w.t2 }).getMany();
      expect(viaBuilder.map((t) => t.id)).toEqual([w.t1]);
      const viaString = await em.createQueryBuilder().select('t.id', 'id').from('TENANTS', 't').getRawMany<{ id: number }>();
      expect(viaString.map((r) => Number(r.id))).toEqual([w.t1]);
    });

    it("renaming, moving or deleting another tenant's row is refused and changes nothing", async () => {
      const em = w.tenancy.manager(w.t1);
      const before = JSON.stringify(await w.inspect.find(Tenant, { order: { id: 'ASC' } }));
      await expect(em.save(Tenant, { id: w.t2, name: 'renamed' })).rejects.toBeInstanceOf(TenantMismatchError);
      await expect(em.update(Tenant, w.t2, { name: 'renamed' })).rejects.toBeInstanceOf(TenantMismatchError);
      await expect(em.update(Tenant, { id: w.t2 }, { name: 'renamed' })).rejects.toBeInstanceOf(TenantMismatchError);
      await expect(em.delete(Tenant, w.t2)).rejects.toBeInstanceOf(TenantMismatchError);
      await expect(em.delete(Tenant, [w.t1, w.t2])).rejects.toBeInstanceOf(TenantMismatchError);
      await expect(em.softDelete(Tenant, { id: w.t2 })).rejects.toBeInstanceOf(TenantMismatchError);
      await expect(em.insert(Tenant, { id: w.t2, name: 'again' })).rejects.toBeInstanceOf(TenantMismatchError);
      await expect(em.upsert(Tenant, { id: w.t2, name: 'taken' }, ['id'])).rejects.toBeInstanceOf(TenantMismatchError);
      await expect(em.remove(Tenant, Object.assign(new Tenant(), { id: w.t2, name: 'globex' }))).rejects.toBeInstanceOf(TenantMismatchError);
      // Criteria that name no id are scoped: another tenant's row is not matched.
      expect((await em.update(Tenant, { name: 'globex' }, { name: 'renamed' })).affected).toBe(0);
      expect((await em.createQueryBuilder().update(Tenant).set({ name: 'renamed' }).where('id = :id', { id: w.t2 }).execute()).affected).toBe(0);
      await expect(em.createQueryBuilder().delete().from(Tenant).where('id = :id', { id: w.t2 }).execute()).rejects.toBeInstanceOf(UnsafeQueryError);
      await expect(em.createQueryBuilder().delete().from('tenants').where('id = :id', { id: w.t2 }).execute()).rejects.toBeInstanceOf(UnsafeQueryError);
      await expect(em.clear(Tenant)).rejects.toBeInstanceOf(UnsafeQueryError);
      // The own row cannot be moved to another id either.
      await expect(em.update(Tenant, w.t1, { id: w.t2 })).rejects.toBeInstanceOf(TenantMismatchError);
      expect(JSON.stringify(await w.inspect.find(Tenant, { order: { id: 'ASC' } }))).toBe(before);
    });

    it('a tenant cannot create tenant rows, nor delete its own; it can rename its own row', async () => {
      const em = w.tenancy.manager(w.t1);
      const count = await w.inspect.count(Tenant);
      await expect(em.insert(Tenant, { name: 'sneaky' })).rejects.toBeInstanceOf(UnsafeQueryError);
      await expect(em.save(Tenant, { name: 'sneaky' })).rejects.toBeInstanceOf(UnsafeQueryError);
      await expect(em.createQueryBuilder().insert().into(Tenant).values({ name: 'sneaky' }).execute()).rejects.toBeInstanceOf(UnsafeQueryError);
      await expect(em.delete(Tenant, w.t1)).rejects.toBeInstanceOf(UnsafeQueryError);
      await expect(em.delete(Tenant, { name: 'acme' })).rejects.toBeInstanceOf(UnsafeQueryError);
      const own = await em.findOneByOrFail(Tenant, { id: w.t1 });
      await expect(em.remove(own)).rejects.toBeInstanceOf(UnsafeQueryError);
      expect(await w.inspect.count(Tenant)).toBe(count);
      await em.save(Tenant, { ...own, name: 'acme-renamed' });
      expect((await em.findOneByOrFail(Tenant, { id: w.t1 })).name).toBe('acme-renamed');
      await em.update(Tenant, w.t1, { name: 'acme' });
      expect((await w.inspect.findOneByOrFail(Tenant, { id: w.t2 })).name).toBe('globex');
    });

    it('{ safe: false } still reaches every tenant row on purpose', async () => {
      const em = w.tenancy.manager(w.t1);
      const all = await em.find(Tenant, { safe: false });
      expect(all.map((t) => t.id)).toEqual(expect.arrayContaining([w.t1, w.t2]));
    });
  });
});
