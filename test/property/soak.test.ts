import type { DataSourceOptions } from 'typeorm';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { databaseKinds } from '../support/databases.js';
import { createProofWorld, type ProofWorld } from './proof-world.js';
import { OPERATIONS, POOL, runSoak } from './soak-run.js';

/**
 * Concurrency soak on PostgreSQL with row-level security off: the app-side filter
 * alone keeps 1,000 interleaved operations of three tenants apart (see soak-run.ts
 * for what runs and what is checked; soak-rls.test.ts is the same with RLS on).
 */

const hasPostgres = databaseKinds().includes('postgres');

describe.skipIf(!hasPostgres)('concurrency soak on postgres', () => {
  let w: ProofWorld;
  beforeAll(async () => {
    w = await createProofWorld('postgres', { extra: { max: POOL } } as Partial<DataSourceOptions>);
  });
  afterAll(async () => w?.close());

  it(`${OPERATIONS} interleaved operations of 3 tenants through tenancy.run/current with a pool of ${POOL}: zero cross-talk`, { timeout: 120_000 }, async () => {
    await runSoak({ name: 'soak', tenancy: w.tenancy, tenantIds: w.tenantIds, pooled: w.dataSource, raw: w.dataSource });
  });
});
