/**
 * `typeorm-tenancy/testing`: put tenant isolation in your own CI. Seeds two tenants
 * into your entities, runs a battery of cross-tenant reads and writes through your
 * `Tenancy`, checks the outcome with plain SQL, and removes what it wrote.
 *
 * @example
 * import { assertTenantIsolation } from 'typeorm-tenancy/testing';
 *
 * it('keeps tenants apart', async () => {
 *   await assertTenantIsolation({ tenancy, dataSource }); // throws a readable list of leaks
 * });
 * @module
 */
export { probeTenantIsolation } from './probe.js';
export { assertTenantIsolation, formatIsolationReport, TenantIsolationError } from './assert.js';
export type { IsolationProbe, IsolationReport, NotProbed, ProbeTenantIsolationOptions, TenancyUnderTest, TenantLabel } from './types.js';
export type { TenantId } from '../scoping/tenant-key.js';
