// npm run example:products    serves on http://127.0.0.1:8000 (PORT to change)
//   curl http://127.0.0.1:8000/products                  the 25 products of the shared tenant
//   curl -H 'tenant: edgy' http://127.0.0.1:8000/products  edgy's 10 products
// SQLite in memory, seeded at start; PostgreSQL when DATABASE_URL is set (seeded once).
import 'reflect-metadata';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { Tenancy } from '../../src/index.js';
import { createProductsApp } from './app.js';
import { Product, Tenant } from './entities.js';
import { seed } from './seed.js';

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  const driver: DataSourceOptions = url ? { type: 'postgres', url } : { type: 'better-sqlite3', database: ':memory:' };
  const dataSource = new DataSource({ ...driver, entities: [Tenant, Product], synchronize: true });
  const tenancy = new Tenancy(dataSource); // before initialize(): adds products.tenant_id
  await dataSource.initialize();
  const { shared, edgy } = await seed(dataSource, tenancy);

  const server = createServer(createProductsApp(dataSource, tenancy, shared.id));
  server.listen(Number(process.env.PORT ?? 8000), '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    console.log(`products listening on http://127.0.0.1:${port} (tenants: ${shared.name} #${shared.id}, ${edgy.name} #${edgy.id})`);
    console.log(`  curl http://127.0.0.1:${port}/products                   # ${shared.name}'s 25 products`);
    console.log(`  curl -H 'tenant: edgy' http://127.0.0.1:${port}/products  # edgy's 10 products`);
  });
  const stop = () => server.close(() => void dataSource.destroy());
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
