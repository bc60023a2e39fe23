import type { EntityManager } from 'typeorm';
import type { BenchEntities } from './entities.js';
import type { WorkloadInput, Workloads } from './workloads.js';

// The workloads written twice: as a careful developer writes them without the library (every
// where, join and insert names the tenant), and through a tenant-bound manager (no tenant
// anywhere). Shared by the in-process variants and the whole-process apps; this file never loads
// the library (a tenant manager is passed in as a function).

const title = (kind: string, input: WorkloadInput, k = 0) => `${kind} ${input.seq}.${k}`;

/** Plain TypeORM, the tenant criterion and tenant id written by hand: the fair baseline. */
export function plainOps(m: EntityManager, { Post }: BenchEntities): Workloads {
  return {
    pointRead: (i) => m.findOneBy(Post, { id: i.postId, tenantId: i.tenantId }),
    list20Join: (i) =>
      m.find(Post, { where: { tenantId: i.tenantId, author: { tenantId: i.tenantId } }, relations: { author: true }, order: { id: 'ASC' }, take: 20 }),
    list50Join: (i) =>
      m
        .createQueryBuilder(Post, 'post')
        .innerJoinAndSelect('post.author', 'author', 'author.tenantId = :tenantId', { tenantId: i.tenantId })
        .where('post.tenantId = :tenantId', { tenantId: i.tenantId })
        .orderBy('post.id', 'ASC')
        .limit(50)
        .getMany(),
    count: (i) => m.countBy(Post, { tenantId: i.tenantId }),
    insertRelation: (i) => m.insert(Post, { title: title('rel', i), views: 0, author: { id: i.authorId }, tenantId: i.tenantId }),
    insert: (i) => m.insert(Post, { title: title('new', i), views: 0, authorId: i.authorId, tenantId: i.tenantId }),
    updateById: (i) => m.update(Post, { id: i.postId, tenantId: i.tenantId }, { title: title('updated', i) }),
    saveRelation: (i) => m.save(m.create(Post, { title: title('saved', i), views: 0, author: { id: i.authorId }, tenantId: i.tenantId })),
    transaction10Updates: (i) =>
      m.transaction(async (tx) => {
        for (const [k, id] of i.updateIds.entries()) await tx.update(Post, { id, tenantId: i.tenantId }, { title: title('tx10', i, k) });
      }),
    transaction10: (i) =>
      m.transaction(async (tx) => {
        for (const [k, id] of i.txPostIds.entries()) {
          await tx.insert(Post, { title: title('tx', i, k), views: 0, authorId: i.authorId, tenantId: i.tenantId });
          await tx.update(Post, { id, tenantId: i.tenantId }, { title: title('tx', i, k) });
        }
      }),
  };
}

/** The same calls through a tenant-bound manager (`tenancy.manager(t)`, one per operation as per request): no tenant anywhere. */
export function scopedOps(manager: (tenantId: number) => EntityManager, { Post }: BenchEntities): Workloads {
  const em = (i: WorkloadInput) => manager(i.tenantId);
  return {
    pointRead: (i) => em(i).findOneBy(Post, { id: i.postId }),
    list20Join: (i) => em(i).find(Post, { relations: { author: true }, order: { id: 'ASC' }, take: 20 }),
    list50Join: (i) => em(i).createQueryBuilder(Post, 'post').innerJoinAndSelect('post.author', 'author').orderBy('post.id', 'ASC').limit(50).getMany(),
    count: (i) => em(i).count(Post),
    insertRelation: (i) => em(i).insert(Post, { title: title('rel', i), views: 0, author: { id: i.authorId } }),
    insert: (i) => em(i).insert(Post, { title: title('new', i), views: 0, authorId: i.authorId }),
    updateById: (i) => em(i).update(Post, { id: i.postId }, { title: title('updated', i) }),
    saveRelation: (i) => {
      const m = em(i);
      return m.save(m.create(Post, { title: title('saved', i), views: 0, author: { id: i.authorId } }));
    },
    transaction10Updates: (i) =>
      em(i).transaction(async (tx) => {
        for (const [k, id] of i.updateIds.entries()) await tx.update(Post, { id }, { title: title('tx10', i, k) });
      }),
    transaction10: (i) =>
      em(i).transaction(async (tx) => {
        for (const [k, id] of i.txPostIds.entries()) {
          await tx.insert(Post, { title: title('tx', i, k), views: 0, authorId: i.authorId });
          await tx.update(Post, { id }, { title: title('tx', i, k) });
        }
      }),
  };
}
