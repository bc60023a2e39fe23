import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as typeorm from 'typeorm';
import { Column, DataSource, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, databaseKinds } from './support/databases.js';

@Entity('notes')
class Note {
  @PrimaryGeneratedColumn() id!: number;
  @Column() text!: string;
}

// Snapshot every TypeORM prototype before typeorm-tenancy is even loaded.
const classes = {
  DataSource: typeorm.DataSource,
  EntityManager: typeorm.EntityManager,
  Repository: typeorm.Repository,
  TreeRepository: typeorm.TreeRepository,
  QueryBuilder: typeorm.QueryBuilder,
  SelectQueryBuilder: typeorm.SelectQueryBuilder,
  InsertQueryBuilder: typeorm.InsertQueryBuilder,
  UpdateQueryBuilder: typeorm.UpdateQueryBuilder,
  DeleteQueryBuilder: typeorm.DeleteQueryBuilder,
  RelationQueryBuilder: typeorm.RelationQueryBuilder,
};
const snapshot = () =>
  Object.fromEntries(
    Object.entries(classes).map(([name, c]) => [
      name,
      Object.entries(Object.getOwnPropertyDescriptors(c.prototype)).map(([key, d]) => [key, d.value ?? d.get ?? d.set]),
    ]),
  );
const before = snapshot();
// Each new DataSource re-registers TypeORM's own factories; their code must stay TypeORM's.
const registry = () =>
  Object.entries((typeorm.QueryBuilder as unknown as { queryBuilderRegistry: Record<string, Function> }).queryBuilderRegistry).map(([k, f]) => [k, String(f)]);
const registryBefore = registry();

describe('isolation of the library itself', () => {
  it('patches no TypeORM prototype; a plain DataSource and two Tenancy instances coexist in one process', async () => {
    const { Tenancy, TenantEntityManager } = await import('../src/index.js');
    const { blogEntities, Post, Tenant } = await import('./fixtures/blog.js');
    const { RelationLoader } = await import('typeorm/query-builder/RelationLoader.js');

    const make = () => new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: blogEntities, synchronize: true });
    const one = make();
    const two = make();
    const plain = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [Note], synchronize: true });
    const t1 = new Tenancy(one);
    const t2 = new Tenancy(two, { defaultManager: 'unscoped' });
    await Promise.all([one.initialize(), two.initialize(), plain.initialize()]);

    await one.manager.save(Tenant, [{ name: 'a' }, { name: 'b' }]);
    await two.manager.save(Tenant, [{ name: 'x' }]);
    await t1.manager(1).save(Post, [{ title: 'one-1' }]);
    await t1.manager(2).save(Post, [{ title: 'one-2' }]);
    await t2.manager(1).save(Post, [{ title: 'two-1' }]);
    expect((await t1.manager(1).find(Post)).map((p) => p.title)).toEqual(['one-1']);
    expect((await t2.manager(1).find(Post)).map((p) => p.title)).toEqual(['two-1']);
    // A manager of one Tenancy cannot be used for the other DataSource's metadata.
    expect(t1.manager(1).dataSource).toBe(one);

    // The plain DataSource is plain TypeORM.
    await plain.manager.save(Note, { text: 'n' });
    const qb = plain.createQueryBuilder(Note, 'n');
    expect(Object.getPrototypeOf(qb)).toBe(typeorm.SelectQueryBuilder.prototype);
    expect(plain.manager).not.toBeInstanceOf(TenantEntityManager);
    expect(Object.getPrototypeOf(plain.relationLoader)).toBe(RelationLoader.prototype);
    expect(plain.createQueryBuilder).toBe(typeorm.DataSource.prototype.createQueryBuilder);
    expect(await plain.manager.count(Note)).toBe(1);
    // defaultManager 'context' (t1's default) scopes one.manager to tenancy.run; 'unscoped' (t2) leaves two.manager plain.
    expect(await t1.run(1, () => one.manager.count(Post))).toBe(1);
    expect(await two.manager.count(Post)).toBe(1);
    expect(two.manager).not.toBeInstanceOf(TenantEntityManager);

    expect(snapshot()).toEqual(before);
    expect(registry()).toEqual(registryBefore);
    await Promise.all([one.destroy(), two.destroy(), plain.destroy()]);
  });

  it.each(databaseKinds())('overlapping operations of three tenants never see each other on %s', async (kind) => {
    const { Tenancy } = await import('../src/index.js');
    const { blogEntities, Post, Tenant } = await import('./fixtures/blog.js');
    const db = await createTestDatabase(kind);
    const ds = new DataSource({ ...db.options, entities: blogEntities, synchronize: true } as never);
    const tenancy = new Tenancy(ds, { defaultManager: 'unscoped' });
    await ds.initialize();
    try {
      const tenants = await ds.manager.save(Tenant, [{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
      const ops = Array.from({ length: 60 }, async (_, i) => {
        const tenant = tenants[i % 3]!.id;
        const em = tenancy.manager(tenant);
        const work = async (m: typeof em) => {
          await m.insert(Post, { title: `t${tenant}-${i}` });
          await new Promise((r) => setTimeout(r, i % 4));
          return (await m.find(Post)).every((p) => p.title.startsWith(`t${tenant}-`));
        };
        // One SQLite connection cannot hold concurrent transactions (a TypeORM/SQLite limit), PostgreSQL can.
        return kind === 'postgres' ? em.transaction(work) : work(em);
      });
      expect((await Promise.all(ops)).every(Boolean)).toBe(true);
      for (const { id } of tenants) {
        const rows = await ds.manager.findBy(Post, { tenantId: id });
        expect(rows).toHaveLength(20);
        expect(rows.every((p) => p.title.startsWith(`t${id}-`))).toBe(true);
      }
    } finally {
      await ds.destroy();
      await db.drop();
    }
  });

  it('a plain DataSource with the same entities, initialized later, does not take over lazy loads of tenant-loaded entities', async () => {
    const { Tenancy } = await import('../src/index.js');
    const { blogEntities, Comment, Post, Tenant } = await import('./fixtures/blog.js');
    const dir = mkdtempSync(join(tmpdir(), 'tenancy-lazy-'));
    const file = join(dir, 'shared.sqlite');
    const scoped = new DataSource({ type: 'better-sqlite3', database: file, entities: blogEntities, synchronize: true });
    const tenancy = new Tenancy(scoped, { defaultManager: 'unscoped' });
    await scoped.initialize();
    const [a, b] = await scoped.manager.save(Tenant, [{ name: 'a' }, { name: 'b' }]);
    const foreign = await scoped.manager.save(Post, { title: 'b-post', tenantId: b!.id });
    await scoped.manager.save(Comment, { body: 'a-comment', tenantId: a!.id } as never);
    await scoped.query(`UPDATE comments SET pinnedId = ${foreign.id}`);
    // TypeORM moves the lazy getters on the entity prototypes to the loader of the DataSource initialized last.
    const plain = new DataSource({ type: 'better-sqlite3', database: file, entities: blogEntities });
    await plain.initialize();
    try {
      const em = tenancy.manager(a!.id);
      const loaded = await em.findOneByOrFail(Comment, { body: 'a-comment' });
      expect(await loaded.pinned).toBeNull();
      const [listed] = await em.find(Comment);
      expect(await listed!.pinned).toBeNull();
      const saved = await em.save(em.create(Comment, { body: 'a-saved' }));
      await scoped.query(`UPDATE comments SET pinnedId = ${foreign.id} WHERE id = ${saved.id}`);
      expect(await saved.pinned).toBeNull();
      // The plain DataSource's own entities stay plain TypeORM.
      const viaPlain = await plain.manager.findOneByOrFail(Comment, { body: 'a-comment' });
      expect((await viaPlain.pinned)?.title).toBe('b-post');
    } finally {
      await plain.destroy();
      await scoped.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
