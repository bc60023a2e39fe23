import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EntityManager, type EntitySubscriberInterface, type InsertEvent, Repository } from 'typeorm';
import { MissingTenantError, TenantEntityManager } from '../../src/index.js';
import { Post, Tenant } from '../fixtures/blog.js';
import { conformanceCases, createBlogWorld, type BlogWorld } from '../support/blog-world.js';

describe.each(await conformanceCases())('managers, repositories and transactions on $name', (c) => {
  let w: BlogWorld;
  beforeAll(async () => {
    w = await createBlogWorld(c);
  });
  afterAll(async () => w?.close());

  it('tenancy.manager accepts an id or a tenant entity, and creating one runs no query', async () => {
    w.log.clear();
    const em = w.tenancy.manager(w.t1);
    const byEntity = w.tenancy.manager(Object.assign(new Tenant(), { id: w.t2 }));
    expect(w.log.statements).toEqual([]);
    expect(em).toBeInstanceOf(EntityManager);
    expect(em).toBeInstanceOf(TenantEntityManager);
    expect([em.tenantId, byEntity.tenantId]).toEqual([w.t1, w.t2]);
  });

  it('createQueryBuilder with and without an entity is scoped', async () => {
    const em = w.tenancy.manager(w.t1);
    expect(await em.createQueryBuilder(Post, 'p').getCount()).toBe(3);
    expect(await em.createQueryBuilder().select('p').from(Post, 'p').getCount()).toBe(3);
  });

  it('transaction gives a scoped TenantEntityManager; commit and rollback behave as in TypeORM', async () => {
    const em = w.tenancy.manager(w.t1);
    const count = await em.transaction(async (tx) => {
      expect(tx).toBeInstanceOf(TenantEntityManager);
      await tx.save(Post, { title: 'in-tx' });
      expect(await tx.findOneBy(Post, { id: w.posts.g1.id })).toBeNull();
      return tx.count(Post);
    });
    expect(count).toBe(4);
    expect((await w.inspect.findOneByOrFail(Post, { title: 'in-tx' })).tenantId).toBe(w.t1);
    await expect(
      em.transaction('SERIALIZABLE', async (tx) => {
        await tx.insert(Post, { title: 'rolled-back' });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await w.inspect.countBy(Post, { title: 'rolled-back' })).toBe(0);
    // A nested transaction on the bound manager reuses it.
    await em.transaction(async (tx) => tx.transaction(async (inner) => expect(inner).toBe(tx)));
  });

  it('getRepository, withRepository and Repository.extend are scoped', async () => {
    const em = w.tenancy.manager(w.t1);
    const repo = em.getRepository(Post);
    expect(repo.manager).toBe(em);
    expect(await repo.count()).toBe(await em.count(Post));
    expect(await repo.findOneBy({ id: w.posts.g1.id })).toBeNull();
    const custom = w.dataSource.getRepository(Post).extend({
      byTitle(this: Repository<Post>, title: string) {
        return this.findBy({ title });
      },
    });
    // Module-level: plain TypeORM on the main DataSource (where it sees tenant rows at all: not under RLS, not in other layouts).
    expect(await custom.byTitle('globex-1')).toHaveLength(w.plainSeesTenantRows ? 1 : 0);
    const scoped = em.withRepository(custom);
    expect(await scoped.byTitle('globex-1')).toHaveLength(0);
    expect(await scoped.byTitle('acme-1')).toHaveLength(1);
    expect(await em.getTreeRepository(Post).count()).toBeGreaterThan(0);
  });

  it('subscribers of a scoped save see the tenant stamped; the other DataSource manager stays plain', async () => {
    const seen: Array<[unknown, unknown]> = [];
    const subscriber: EntitySubscriberInterface<Post> = {
      listenTo: () => Post,
      beforeInsert: (event: InsertEvent<Post>) => {
        seen.push([event.entity.title, event.entity.tenantId]);
      },
    };
    const storage = await w.dataSourceOf(w.t2);
    storage.subscribers.push(subscriber);
    try {
      await w.tenancy.manager(w.t2).save(Post, { title: 'observed' });
    } finally {
      storage.subscribers.splice(storage.subscribers.indexOf(subscriber), 1);
    }
    expect(seen).toEqual([['observed', w.t2]]);
    expect(w.dataSource.manager).not.toBeInstanceOf(TenantEntityManager);
  });

  it('release() behaves as in TypeORM; tenancy.run / current bind a manager per async context', async () => {
    await expect(w.tenancy.manager(w.t1).release()).rejects.toThrow(/cannot be released/);
    const runner = w.dataSource.createQueryRunner();
    await new TenantEntityManager(w.dataSource, runner, w.tenancy.manager(w.t1).scope).release();
    expect(runner.isReleased || c.kind === 'sqlite').toBe(true);
    expect(() => w.tenancy.current()).toThrow(MissingTenantError);
    const [a, b] = await Promise.all([
      w.tenancy.run(w.t1, async () => {
        await new Promise((r) => setTimeout(r, 5));
        return w.tenancy.current().tenantId;
      }),
      w.tenancy.run(w.t2, async () => w.tenancy.current().tenantId),
    ]);
    expect([a, b]).toEqual([w.t1, w.t2]);
  });
});
