import { DataSource } from 'typeorm';
import { Tenancy, TenantEntity, TenantScoped } from '../../src/index.js';
import { defineEntities } from '../lib/entities.js';
import { compositeKeysOption } from '../lib/keys.js';
import { scopedOps } from '../lib/ops.js';
import { main } from './app.js';

// The same app through typeorm-tenancy: a Tenancy on the DataSource, a tenancy.manager(t) per
// operation (as per request), no tenant anywhere in the workloads.

const entities = defineEntities({ TenantEntity, TenantScoped });
main({
  side: 'tenant',
  entities,
  async open(options) {
    const dataSource = new DataSource(options);
    const tenancy = new Tenancy(dataSource, compositeKeysOption());
    await dataSource.initialize();
    return { dataSource, ops: scopedOps((tenantId) => tenancy.manager(tenantId), entities) };
  },
});
