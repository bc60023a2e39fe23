// The flask seed's key-value service on Express 5: the tenant is the Host header.
import express, { type Express } from 'express';
import type { DataSource } from 'typeorm';
import type { Tenancy } from '../../src/index.js';
import { byHostname, tenancyMiddleware, tenantManager } from '../../src/integrations/express.js';
import { Entry, Tenant } from './entities.js';

const int32 = /^-?[0-9]{1,10}$/;

export function createKvApp(dataSource: DataSource, tenancy: Tenancy): Express {
  const app = express();

  // Host header (with port) → tenant id, from the tenants table (a shared entity: readable
  // outside tenancy.run). An unregistered host is an unknown tenant: 404, naming no tenant.
  app.use(
    tenancyMiddleware(tenancy, {
      resolve: byHostname(async (host) => (await dataSource.manager.findOneBy(Tenant, { host }))?.id, { port: true }),
    }),
  );

  // Plain TypeORM code: under defaultManager 'context' this repository is scoped to the
  // tenant of the request being handled, though it was created once, outside any request.
  const entries = dataSource.getRepository(Entry);

  app.post('/data/insert/:key/:value', async (req, res) => {
    const { key, value } = req.params;
    if (!int32.test(value) || Math.abs(Number(value)) > 2 ** 31 - 1) {
      res.status(400).json({ error: 'value must be a 32-bit integer' });
      return;
    }
    const existing = await entries.findOneBy({ key }); // WHERE key = ? AND tenant_id = <request's tenant>
    await entries.save({ ...existing, key, value: Number(value) }); // tenant_id stamped
    res.json({ status: 'success' });
  });

  app.get('/data/get/:key', async (req, res) => {
    const entry = await entries.findOneBy({ key: req.params.key });
    if (entry) res.json({ value: entry.value });
    else res.status(404).json({ error: 'Not Found' });
  });

  // Every entry of the tenant, through the manager the middleware bound to this request.
  app.get('/data', async (req, res) => {
    const rows = await tenantManager(req).find(Entry, { order: { key: 'ASC' } });
    res.json({ entries: Object.fromEntries(rows.map((row) => [row.key, row.value])) });
  });

  return app;
}
