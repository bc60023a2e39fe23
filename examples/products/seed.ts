import type { DataSource } from 'typeorm';
import type { Tenancy } from '../../src/index.js';
import { Product, Tenant } from './entities.js';

/** The walkthrough's data: 25 products of the shared default tenant, 10 of tenant `edgy`. Idempotent. */
export async function seed(dataSource: DataSource, tenancy: Tenancy): Promise<{ shared: Tenant; edgy: Tenant }> {
  const tenant = async (name: string) => (await dataSource.manager.findOneBy(Tenant, { name })) ?? dataSource.manager.save(Tenant, { name });
  const shared = await tenant('shared');
  const edgy = await tenant('edgy');
  for (const [owner, label, count] of [[shared, 'Shared', 25], [edgy, 'Edgy', 10]] as const) {
    const em = tenancy.manager(owner);
    if ((await em.count(Product)) > 0) continue;
    await em.save(Product, Array.from({ length: count }, (_, i) => ({ name: `${label} product ${i + 1}` }))); // tenant_id stamped
  }
  return { shared, edgy };
}
