import { randomInt, seededRandom } from './prng.js';
import { type SeedShape, seededId } from './shape.js';

/** The workloads, in the order they run and are reported. */
export const workloadNames = [
  'pointRead',
  'list20Join',
  'list50Join',
  'count',
  'insertRelation',
  'insert',
  'updateById',
  'saveRelation',
  'transaction10Updates',
  'transaction10',
] as const;
export type WorkloadName = (typeof workloadNames)[number];

/** The workloads the MikroORM peer implements (the first set of the benchmark). */
export const peerWorkloadNames = ['pointRead', 'list50Join', 'count', 'insert', 'updateById', 'transaction10'] as const satisfies readonly WorkloadName[];
export type PeerWorkloadName = (typeof peerWorkloadNames)[number];

export const workloadLabels: Record<WorkloadName, string> = {
  pointRead: 'point read by id',
  list20Join: 'list 20 with a join (find, relations, take)',
  list50Join: 'list 50 with a join (query builder)',
  count: 'count',
  insertRelation: 'insert with author: { id }',
  insert: 'insert with authorId column',
  updateById: 'update by id',
  saveRelation: 'save (new entity with a relation)',
  transaction10Updates: 'transaction of 10 updates',
  transaction10: 'transaction of 10 writes (5 inserts + 5 updates)',
};

/** What one round of a workload gets; every variant gets the same input in the same round. */
export interface WorkloadInput {
  tenantId: number;
  /** A seeded post of that tenant (point read, update). */
  postId: number;
  /** A seeded author of that tenant (insert). */
  authorId: number;
  /** Unique per round: titles of inserts and updates. */
  seq: number;
  /** Posts of that tenant for the transaction's five updates. */
  txPostIds: number[];
  /** Posts of that tenant for the transaction of ten updates. */
  updateIds: number[];
}

/** A variant's implementation of every workload. */
export type Workloads = Record<WorkloadName, (input: WorkloadInput) => Promise<unknown>>;

/** A seeded input stream, the same in every process for the same workload and shape. */
export function inputStream(workload: string, shape: SeedShape, seed = 1): () => WorkloadInput {
  let hash = seed;
  for (const char of workload) hash = (Math.imul(hash, 31) + char.charCodeAt(0)) >>> 0;
  const random = seededRandom(hash);
  let seq = 0;
  const post = (tenantId: number) => seededId(shape, tenantId, randomInt(random, 0, shape.postsPerTenant - 1));
  return () => {
    const tenantId = randomInt(random, 1, shape.tenants);
    return {
      tenantId,
      postId: post(tenantId),
      authorId: seededId(shape, tenantId, randomInt(random, 0, shape.authorsPerTenant - 1)),
      seq: ++seq,
      txPostIds: [post(tenantId), post(tenantId), post(tenantId), post(tenantId), post(tenantId)],
      updateIds: Array.from({ length: 10 }, () => post(tenantId)),
    };
  };
}
