import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tenancy } from '../../src/index.js';
import { proofEntities } from '../fixtures/proof-entities.js';
import { startRlsApp } from '../support/app-role.js';
import { databaseKinds } from '../support/databases.js';
import { createProofWorld, type ProofWorld } from './proof-world.js';
import { OPERATIONS, POOL, runSoak } from './soak-run.js';

/**
 * The concurrency soak (soak-run.ts) with row-level security on: the application
 * connects as a NOSUPERUSER NOBYPASSRLS role created for this file, every tenant
 * operation runs in a transaction bound with set_config, and 1,000 interleaved
 * operations of three tenants over a pool of 5 show zero cross-talk. The admin
 * connection (a superuser, outside the policies) makes the final raw comparison.
 */

const hasPostgres = databaseKinds().includes('postgres');

describe.skipIf(!hasPostgres)('concurrency soak on postgres with row-level security', () => {
  let w: ProofWorld;
  let app: DataSource;
  let tenancy: Tenancy;
  let closeApp: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    w = await createProofWorld('postgres');
    ({ app, tenancy, close: closeApp } = await startRlsApp(w.dataSource, { entities: proofEntities, prefix: 'tenancy_soak', extra: { max: POOL } }));
  });
  afterAll(async () => {
    await closeApp?.();
    await w?.close();
  });

  it(`${OPERATIONS} interleaved operations of 3 tenants with RLS on, as a NOSUPERUSER NOBYPASSRLS role, pool of ${POOL}: zero cross-talk`, { timeout: 120_000 }, async () => {
    expect(await tenancy.rls.verify()).toEqual({ ok: true, problems: [], warnings: [] });
    // Outside any tenant the role sees no scoped row at all.
    expect(await app.query('SELECT * FROM proof_items')).toEqual([]);
    await runSoak({ name: 'soak-rls', tenancy, tenantIds: w.tenantIds, pooled: app, raw: w.dataSource, rlsSetting: 'app.tenant_id' });
    expect(await app.query('SELECT * FROM proof_items')).toEqual([]);
  });
});
