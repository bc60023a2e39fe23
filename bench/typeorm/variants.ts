import { type DataSource, DataSource as TypeOrmDataSource, type EntityManager } from 'typeorm';
import { Tenancy } from '../../src/index.js';
import { type CaptureLogger, type DbKind, dataSourceOptions, plainDataSource } from './datasources.js';
import { Post } from './entities.js';
import type { WorkloadInput, Workloads } from '../lib/workloads.js';

/** What a variant is given: the database (already with schema and data) and the shared logger. */
export interface BenchEnv {
  db: DbKind;
  /** sqlite file path or postgres url */
  target: string;
  logger: CaptureLogger;
}

export interface VariantInstance {
  ops: Workloads;
  /** Its DataSource (EXPLAIN runs on the baseline's). */
  dataSource: DataSource;
  close(): Promise<void>;
}

/**
 * One way of running the workloads. The first entry is the baseline every other is divided by.
 * Each variant opens its own DataSource on the same database, so nothing one variant installs
 * (a Tenancy's hooks) is paid by another. RLS, schema and database strategies are one more entry.
 */
export interface Variant {
  /** 'a', 'b', ... as in the issue. */
  key: string;
  label: string;
  description: string;
  databases: readonly DbKind[];
  create(env: BenchEnv): Promise<VariantInstance>;
}

const title = (kind: string, input: WorkloadInput, k = 0) => `${kind} ${input.seq}.${k}`;

/** (a) Plain TypeORM, tenant_id criteria written by hand: what a careful developer writes. */
const handWritten: Variant = {
  key: 'a',
  label: 'TypeORM, tenant_id by hand',
  description: 'plain DataSource.manager; every where, join condition and insert names tenant_id',
  databases: ['sqlite', 'postgres'],
  async create(env) {
    const ds = await plainDataSource(env.db, env.target, env.logger);
    const m: EntityManager = ds.manager;
    const ops: Workloads = {
      pointRead: (i) => m.findOneBy(Post, { id: i.postId, tenantId: i.tenantId }),
      list50Join: (i) =>
        m
          .createQueryBuilder(Post, 'post')
          .innerJoinAndSelect('post.author', 'author', 'author.tenantId = :tenantId', { tenantId: i.tenantId })
          .where('post.tenantId = :tenantId', { tenantId: i.tenantId })
          .orderBy('post.id', 'ASC')
          .limit(50)
          .getMany(),
      count: (i) => m.countBy(Post, { tenantId: i.tenantId }),
      insert: (i) => m.insert(Post, { title: title('new', i), views: 0, authorId: i.authorId, tenantId: i.tenantId }),
      updateById: (i) => m.update(Post, { id: i.postId, tenantId: i.tenantId }, { title: title('updated', i) }),
      transaction10: (i) =>
        m.transaction(async (tx) => {
          for (const [k, id] of i.txPostIds.entries()) {
            await tx.insert(Post, { title: title('tx', i, k), views: 0, authorId: i.authorId, tenantId: i.tenantId });
            await tx.update(Post, { id, tenantId: i.tenantId }, { title: title('tx', i, k) });
          }
        }),
    };
    return { ops, dataSource: ds, close: () => ds.destroy() };
  },
};

/** (b) typeorm-tenancy's TenantEntityManager: the same calls without any tenant_id. */
const tenantManager: Variant = {
  key: 'b',
  label: 'typeorm-tenancy TenantEntityManager',
  description: 'tenancy.manager(tenantId) created per operation (as per request); no tenant_id written',
  databases: ['sqlite', 'postgres'],
  async create(env) {
    const ds = new TypeOrmDataSource(dataSourceOptions(env.db, env.target, env.logger));
    const tenancy = new Tenancy(ds);
    await ds.initialize();
    const em = (i: WorkloadInput) => tenancy.manager(i.tenantId);
    const ops: Workloads = {
      pointRead: (i) => em(i).findOneBy(Post, { id: i.postId }),
      list50Join: (i) => em(i).createQueryBuilder(Post, 'post').innerJoinAndSelect('post.author', 'author').orderBy('post.id', 'ASC').limit(50).getMany(),
      count: (i) => em(i).count(Post),
      insert: (i) => em(i).insert(Post, { title: title('new', i), views: 0, authorId: i.authorId }),
      updateById: (i) => em(i).update(Post, { id: i.postId }, { title: title('updated', i) }),
      transaction10: (i) =>
        em(i).transaction(async (tx) => {
          for (const [k, id] of i.txPostIds.entries()) {
            await tx.insert(Post, { title: title('tx', i, k), views: 0, authorId: i.authorId });
            await tx.update(Post, { id }, { title: title('tx', i, k) });
          }
        }),
    };
    return { ops, dataSource: ds, close: () => ds.destroy() };
  },
};

/** Every variant, baseline first. (c) RLS, (d) schema and (e) database strategies go here. */
export const variants: readonly Variant[] = [handWritten, tenantManager];

export function variantsFor(db: DbKind, only?: string): Variant[] {
  return variants.filter((v) => v.databases.includes(db) && (only === undefined || v.key === only));
}
