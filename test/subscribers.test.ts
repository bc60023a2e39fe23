import { AsyncLocalStorage } from 'node:async_hooks';
import {
  DataSource,
  type EntitySubscriberInterface,
  EventSubscriber,
  type InsertEvent,
  type LoadEvent,
  type ObjectLiteral,
  type RemoveEvent,
  type SoftRemoveEvent,
  type RecoverEvent,
  type TransactionStartEvent,
  type UpdateEvent,
  type EntityManager,
} from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tenancy, TenancyError, TenantEntityManager } from '../src/index.js';
import { blogEntities, Comment, Post, Tenant, User } from './fixtures/blog.js';
import { startRlsApp, type RlsApp } from './support/app-role.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from './support/databases.js';

// Rule 8 / leak path 25: every event a tenant operation raises hands the subscriber a manager
// scoped to that tenant. The subscriber below reads posts through `event.manager` on every event;
// tenant 1 must never see tenant 2's posts there, whatever the event or the path that raised it.

interface Seen {
  event: string;
  tenant: unknown;
  titles: string[] | string;
}

const seen: Seen[] = [];
// The subscriber's own reads raise events too: those are not looked at. (Handlers of one broadcast
// run concurrently, so a flag would not do; an async context marks the subscriber's own work.)
const inside = new AsyncLocalStorage<true>();
let snooping = false;

async function look(event: string, manager: EntityManager): Promise<void> {
  if (!snooping || inside.getStore()) return;
  await inside.run(true, async () => {
    const tenant = manager instanceof TenantEntityManager ? manager.scope.tenantId : 'plain';
    let titles: string[] | string;
    try {
      titles = (await manager.find(Post, { withDeleted: true })).map((p) => p.title).sort();
    } catch (error) {
      // A refusal is not a leak: under RLS a scoped read cannot share the transaction of a bypass in flight.
      titles = error instanceof TenancyError ? error.name : String(error);
    }
    seen.push({ event, tenant, titles });
  });
}

@EventSubscriber()
class Snoop implements EntitySubscriberInterface<ObjectLiteral> {
  afterLoad(_entity: ObjectLiteral, event?: LoadEvent<ObjectLiteral>) {
    return event ? look(`afterLoad ${event.metadata.name}`, event.manager) : undefined;
  }
  beforeInsert(e: InsertEvent<ObjectLiteral>) { return look(`beforeInsert ${e.metadata.name}`, e.manager); }
  afterInsert(e: InsertEvent<ObjectLiteral>) { return look(`afterInsert ${e.metadata.name}`, e.manager); }
  beforeUpdate(e: UpdateEvent<ObjectLiteral>) { return look(`beforeUpdate ${e.metadata.name}`, e.manager); }
  afterUpdate(e: UpdateEvent<ObjectLiteral>) { return look(`afterUpdate ${e.metadata.name}`, e.manager); }
  beforeRemove(e: RemoveEvent<ObjectLiteral>) { return look(`beforeRemove ${e.metadata.name}`, e.manager); }
  afterRemove(e: RemoveEvent<ObjectLiteral>) { return look(`afterRemove ${e.metadata.name}`, e.manager); }
  beforeSoftRemove(e: SoftRemoveEvent<ObjectLiteral>) { return look(`beforeSoftRemove ${e.metadata.name}`, e.manager); }
  afterSoftRemove(e: SoftRemoveEvent<ObjectLiteral>) { return look(`afterSoftRemove ${e.metadata.name}`, e.manager); }
  beforeRecover(e: RecoverEvent<ObjectLiteral>) { return look(`beforeRecover ${e.metadata.name}`, e.manager); }
  afterRecover(e: RecoverEvent<ObjectLiteral>) { return look(`afterRecover ${e.metadata.name}`, e.manager); }
  afterTransactionStart(e: TransactionStartEvent) { return look('afterTransactionStart', e.manager); }
  beforeTransactionCommit(e: TransactionStartEvent) { return look('beforeTransactionCommit', e.manager); }
  afterTransactionCommit(e: TransactionStartEvent) { return look('afterTransactionCommit', e.manager); }
  beforeTransactionRollback(e: TransactionStartEvent) { return look('beforeTransactionRollback', e.manager); }
  afterTransactionRollback(e: TransactionStartEvent) { return look('afterTransactionRollback', e.manager); }
  afterQuery(e: { manager: EntityManager; query: string }) {
    // Statements outside a transaction only (a read inside one would be on the connection mid-statement for RLS).
    return e.manager.queryRunner?.isTransactionActive ? undefined : look('afterQuery', e.manager);
  }
}

type Layout = 'sqlite' | 'postgres' | 'mariadb' | 'postgres, row-level security';
const layouts: Layout[] = [...databaseKinds(), ...(databaseKinds().includes('postgres') ? (['postgres, row-level security'] as const) : [])];

describe.each(layouts)('subscribers see a manager of the tenant whose operation raised the event, on %s', (layout) => {
  let db: TestDatabase;
  let owner: DataSource;
  let rls: RlsApp | undefined;
  let ds: DataSource;
  let tenancy: Tenancy;
  let t1: number;
  let t2: number;

  beforeAll(async () => {
    const kind = layout === 'postgres, row-level security' ? 'postgres' : layout;
    db = await createTestDatabase(kind as 'sqlite' | 'postgres');
    owner = new DataSource({ ...db.options, entities: blogEntities, synchronize: true, subscribers: [Snoop] } as never);
    const ownerTenancy = new Tenancy(owner, { defaultManager: 'unscoped' });
    await owner.initialize();
    const [a, b] = await owner.manager.save(Tenant, [{ name: 'a' }, { name: 'b' }]);
    [t1, t2] = [a!.id, b!.id];
    await owner.manager.save(Post, [
      { title: 'a-1', tenantId: t1 },
      { title: 'b-1', tenantId: t2 },
      { title: 'b-2', tenantId: t2 },
    ] as Post[]);
    if (layout === 'postgres, row-level security') {
      rls = await startRlsApp(owner, { entities: blogEntities, prefix: 'tenancy_subs', bypass: true });
      // The RLS app DataSource: same entities, the snooping subscriber, context default manager.
      await rls.app.destroy();
      ds = new DataSource({ ...(rls.app.options as object), subscribers: [Snoop] } as never);
      tenancy = new Tenancy(ds, { rowLevelSecurity: { bypassRole: rls.bypassRole! } });
      await ds.initialize();
    } else {
      ds = owner;
      tenancy = ownerTenancy;
      // A second Tenancy-less view is not needed: the owner's default manager is unscoped.
    }
    void User;
    snooping = true;
  });

  afterAll(async () => {
    snooping = false;
    if (ds !== owner && ds?.isInitialized) await ds.destroy();
    await rls?.close();
    if (owner?.isInitialized) await owner.destroy();
    await db?.drop();
  });

  /** Runs `fn` and returns every event seen meanwhile that did not see exactly tenant 1. */
  async function leaks(fn: () => Promise<unknown>): Promise<{ events: string[]; wrong: Seen[]; looked: number }> {
    seen.length = 0;
    await fn();
    const events = seen.map((s) => s.event);
    // A leak: a manager of no tenant or another one, foreign rows, or an error other than a refusal.
    const refused = (titles: string[] | string) => titles === 'UnsafeQueryError' || titles === 'MissingTenantError';
    const wrong = seen.filter((s) => s.tenant !== t1 || (Array.isArray(s.titles) ? s.titles.some((t) => !t.startsWith('a-')) : !refused(s.titles)));
    const looked = seen.filter((s) => Array.isArray(s.titles)).length;
    return { events, wrong, looked };
  }

  it('reads: afterLoad of find, relations, query builders, and of a { safe: false } read', async () => {
    const em = tenancy.manager(t1);
    for (const read of [
      () => em.find(Post),
      () => em.findOneBy(Post, { title: 'a-1' }),
      () => em.find(Post, { relations: { comments: true } }),
      () => em.createQueryBuilder(Post, 'p').getMany(),
      () => em.getRepository(Post).findBy({}),
    ]) {
      const { events, wrong, looked } = await leaks(read);
      expect(events).toContain('afterLoad Post');
      expect(wrong).toEqual([]);
      expect(looked).toBeGreaterThan(0); // the subscriber's reads really ran (and saw tenant 1's posts)
    }
    // A { safe: false } read's events carry the tenant's scoped manager, never the bypass.
    const bypass = await leaks(() => em.find(Post, { safe: false }));
    expect(bypass.events).toContain('afterLoad Post');
    expect(bypass.wrong).toEqual([]);
  });

  it('writes: insert, update, soft remove, recover and remove events, through save() and the builders', async () => {
    const em = tenancy.manager(t1);
    const saved = await leaks(() => em.save(Post, { title: 'a-saved', comments: [{ body: 'c' } as Comment] }));
    expect(saved.events).toEqual(expect.arrayContaining(['beforeInsert Post', 'afterInsert Post', 'afterInsert Comment']));
    expect(saved.wrong).toEqual([]);
    const post = await em.findOneByOrFail(Post, { title: 'a-saved' });
    post.likes = 7;
    const updated = await leaks(() => em.save(post));
    expect(updated.events).toEqual(expect.arrayContaining(['beforeUpdate Post', 'afterUpdate Post']));
    expect(updated.wrong).toEqual([]);
    const softRemoved = await leaks(() => em.softRemove(post));
    expect(softRemoved.events).toEqual(expect.arrayContaining(['beforeSoftRemove Post', 'afterSoftRemove Post']));
    expect(softRemoved.wrong).toEqual([]);
    const recovered = await leaks(() => em.recover(post));
    expect(recovered.events).toEqual(expect.arrayContaining(['beforeRecover Post', 'afterRecover Post']));
    expect(recovered.wrong).toEqual([]);
    const viaBuilders = await leaks(async () => {
      await em.createQueryBuilder().insert().into(Post).values({ title: 'a-built' }).execute();
      await em.createQueryBuilder().update(Post).set({ likes: 3 }).where('title = :t', { t: 'a-built' }).execute();
      await em.createQueryBuilder().delete().from(Post).where('title = :t', { t: 'a-built' }).execute();
    });
    expect(viaBuilders.events).toEqual(expect.arrayContaining(['beforeInsert Post', 'afterUpdate Post', 'afterRemove Post']));
    expect(viaBuilders.wrong).toEqual([]);
    const removed = await leaks(() => em.remove(post));
    expect(removed.events).toEqual(expect.arrayContaining(['beforeRemove Post', 'afterRemove Post']));
    expect(removed.wrong).toEqual([]);
  });

  it('transactions: start, commit and rollback events, and everything inside', async () => {
    const em = tenancy.manager(t1);
    const committed = await leaks(() => em.transaction(async (tx) => tx.save(Post, { title: 'a-tx' })));
    expect(committed.events).toEqual(expect.arrayContaining(['afterTransactionStart', 'beforeTransactionCommit', 'afterTransactionCommit', 'afterInsert Post']));
    expect(committed.wrong).toEqual([]);
    const rolledBack = await leaks(() =>
      em
        .transaction(async (tx) => {
          await tx.save(Post, { title: 'a-doomed' });
          throw new Error('roll back');
        })
        .catch(() => undefined),
    );
    expect(rolledBack.events).toEqual(expect.arrayContaining(['afterTransactionStart', 'beforeTransactionRollback', 'afterTransactionRollback']));
    expect(rolledBack.wrong).toEqual([]);
    await em.delete(Post, { title: 'a-tx' });
  });

  it('raw queries of the tenant', async () => {
    const em = tenancy.manager(t1);
    const raw = await leaks(() => em.query('SELECT 1 AS one', [], { safe: false }));
    // (Under RLS too: the binding travels with the statement, no transaction of its own.)
    expect(raw.events).toContain('afterQuery');
    expect(raw.wrong).toEqual([]);
  });

  it('inside tenancy.run(), the default manager and its repositories raise events of that tenant', async () => {
    if (layout === 'postgres, row-level security' || ds === owner) {
      // The owner DataSource's default manager is unscoped here; the context default is tested on the RLS app.
      if (ds === owner) return;
    }
    const { events, wrong } = await leaks(() => tenancy.run(t1, () => ds.getRepository(Post).find()));
    expect(events).toContain('afterLoad Post');
    expect(wrong).toEqual([]);
    // Outside run(), the default manager refuses scoped entities: so does the manager its events carry.
    seen.length = 0;
    await ds.manager.find(Tenant);
    expect(seen.filter((s) => s.event.startsWith('afterLoad')).every((s) => s.titles === 'MissingTenantError')).toBe(true);
  });

  it('tenant 2 sees its own posts through the same subscriber (the probe can tell tenants apart)', async () => {
    seen.length = 0;
    await tenancy.manager(t2).find(Post);
    const load = seen.find((s) => s.event === 'afterLoad Post');
    expect(load?.tenant).toBe(t2);
    expect(load?.titles).toEqual(['b-1', 'b-2']);
  });
});
