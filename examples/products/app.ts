// Edgy's tenancy walkthrough on Express 5: a middleware reads the `tenant` header; requests
// without one belong to the shared default tenant.
import express, { type Express } from 'express';
import type { DataSource } from 'typeorm';
import type { Tenancy } from '../../src/index.js';
import { byHeader, tenancyMiddleware, withDefault } from '../../src/integrations/express.js';
import { Product, Tenant } from './entities.js';

export function createProductsApp(dataSource: DataSource, tenancy: Tenancy, sharedTenantId: number): Express {
  const app = express();
  const byName = async (name: string) => (await dataSource.manager.findOneBy(Tenant, { name }))?.id;

  // `tenant: edgy` → edgy; no header → the shared tenant; `tenant: nobody` → 404.
  app.use(tenancyMiddleware(tenancy, { resolve: withDefault(byHeader('tenant', byName), sharedTenantId) }));

  app.get('/products', async (_req, res) => {
    // Existing TypeORM code, scoped by defaultManager 'context': WHERE "Product"."tenant_id" = ?
    res.json(await dataSource.getRepository(Product).find({ order: { id: 'ASC' } }));
  });

  return app;
}
