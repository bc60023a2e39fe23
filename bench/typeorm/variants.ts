import { rm } from 'node:fs/promises';
import { type DataSource, DataSource as TypeOrmDataSource } from 'typeorm';
import { Tenancy } from '../../src/index.js';
import { CaptureLogger, type DbKind, dataSourceOptions, plainDataSource } from './datasources.js';
import { benchEntities } from './entities.js';
import { plainOps, scopedOps } from '../lib/ops.js';
import type { Workloads } from '../lib/workloads.js';

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

/** (a) Plain TypeORM, tenant_id criteria written by hand: what a careful developer writes. */
const handWritten: Variant = {
  key: 'a',
  label: 'TypeORM, tenant_id by hand',
  description: 'plain DataSource.manager; every where, join condition and insert names tenant_id',
  databases: ['sqlite', 'postgres'],
  async create(env) {
    const ds = await plainDataSource(env.db, env.target, env.logger);
    const ops = plainOps(ds.manager, benchEntities);
    return { ops, dataSource: ds, close: () => ds.destroy() };
  },
};

/** The workloads through a Tenancy: the same calls, no tenant_id anywhere. */
const tenantOps = (tenancy: Tenancy): Workloads => scopedOps((tenantId) => tenancy.manager(tenantId), benchEntities);

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
    return { ops: tenantOps(tenancy), dataSource: ds, close: () => ds.destroy() };
  },
};

/**
 * (c) The tenant manager with PostgreSQL row-level security, connected as a NOSUPERUSER
 * NOBYPASSRLS role created for the run: each autocommit statement carries its set_config binding
 * in its own round trip, a transaction binds with its first statement. (f): the same with
 * `preparedBinding` (the binding a named prepared statement, parsed once per connection).
 */
function rlsVariant(key: string, label: string, description: string, rls: true | { preparedBinding: true }): Variant {
  return {
    key,
    label,
    description,
    databases: ['postgres'],
    async create(env) {
      const admin = await plainDataSource('postgres', env.target, new CaptureLogger());
      const role = `bench_app_${Math.random().toString(36).slice(2, 10)}`;
      await admin.query(`CREATE ROLE ${role} LOGIN NOSUPERUSER NOBYPASSRLS`);
      await admin.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
      await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`);
      await admin.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
      const url = new URL(env.target);
      url.username = role;
      url.password = '';
      const ds = new TypeOrmDataSource(dataSourceOptions('postgres', url.toString(), env.logger));
      const tenancy = new Tenancy(ds, { rowLevelSecurity: rls });
      await ds.initialize();
      const runner = admin.createQueryRunner();
      await tenancy.rls.install(runner);
      await runner.release();
      return {
        ops: tenantOps(tenancy),
        dataSource: ds,
        close: async () => {
          const down = tenancy.rls.statements().down;
          await ds.destroy();
          for (const sql of down) await admin.query(sql);
          await admin.query(`DROP OWNED BY ${role}`);
          await admin.query(`DROP ROLE ${role}`);
          await admin.destroy();
        },
      };
    },
  };
}

const rowLevelSecurity = rlsVariant(
  'c',
  'typeorm-tenancy + PostgreSQL RLS',
  'rowLevelSecurity: policies installed, app role without BYPASSRLS, the set_config binding fused with each statement',
  true,
);
const rowLevelSecurityPrepared = rlsVariant(
  'f',
  'typeorm-tenancy + PostgreSQL RLS, preparedBinding',
  'rowLevelSecurity: { preparedBinding: true }: the binding a named prepared statement, parsed once per connection',
  { preparedBinding: true },
);

/**
 * (d) Schema per tenant: each tenant's authors and posts copied into `tenant_<id>` (same ids,
 * same index), every operation in a transaction with the tenant schema first on search_path.
 */
const schemaPerTenant: Variant = {
  key: 'd',
  label: 'typeorm-tenancy, schema per tenant',
  description: "strategy 'schema': tenant tables in tenant_<id>, transaction-local search_path",
  databases: ['postgres'],
  async create(env) {
    const admin = await plainDataSource('postgres', env.target, new CaptureLogger());
    const tenants = ((await admin.query('SELECT id FROM tenants ORDER BY id')) as Array<{ id: number }>).map((t) => t.id);
    await admin.transaction(async (m) => {
      for (const id of tenants) {
        await m.query(`CREATE SCHEMA tenant_${id}`);
        for (const table of ['authors', 'posts']) {
          await m.query(`CREATE TABLE tenant_${id}.${table} (LIKE public.${table} INCLUDING ALL)`);
          await m.query(`INSERT INTO tenant_${id}.${table} SELECT * FROM public.${table} WHERE tenant_id = $1`, [id]);
        }
      }
    });
    await admin.query('ANALYZE');
    const ds = new TypeOrmDataSource(dataSourceOptions('postgres', env.target, env.logger));
    const tenancy = new Tenancy(ds, { strategy: 'schema' });
    await ds.initialize();
    return {
      ops: tenantOps(tenancy),
      dataSource: ds,
      close: async () => {
        await ds.destroy();
        for (const id of tenants) await admin.query(`DROP SCHEMA IF EXISTS tenant_${id} CASCADE`);
        await admin.destroy();
      },
    };
  },
};

/**
 * (e) Database per tenant (SQLite): each tenant's rows copied into its own database file, the
 * manager routed to that tenant's DataSource (all 100 kept open: maxOpen 100).
 */
const databasePerTenant: Variant = {
  key: 'e',
  label: 'typeorm-tenancy, database per tenant',
  description: "strategy 'database': one SQLite file per tenant, routed managers, all DataSources open",
  databases: ['sqlite'],
  async create(env) {
    const admin = await plainDataSource('sqlite', env.target, new CaptureLogger());
    const tenants = ((await admin.query('SELECT id FROM tenants ORDER BY id')) as Array<{ id: number }>).map((t) => t.id);
    const file = (tenantId: string | number) => `${env.target}.tenant-${tenantId}.sqlite`;
    for (const id of tenants) {
      const tenantDs = new TypeOrmDataSource(dataSourceOptions('sqlite', file(id), new CaptureLogger(), { synchronize: true }));
      new Tenancy(tenantDs, { defaultManager: 'unscoped' });
      await tenantDs.initialize();
      await tenantDs.destroy();
      await admin.query(`ATTACH DATABASE '${file(id)}' AS tenant_db`);
      await admin.query('INSERT INTO tenant_db.tenants SELECT * FROM tenants WHERE id = ?', [id]);
      await admin.query('INSERT INTO tenant_db.authors SELECT * FROM authors WHERE tenant_id = ?', [id]);
      await admin.query('INSERT INTO tenant_db.posts SELECT * FROM posts WHERE tenant_id = ?', [id]);
      await admin.query('DETACH DATABASE tenant_db');
    }
    const ds = new TypeOrmDataSource(dataSourceOptions('sqlite', env.target, env.logger));
    const tenancy = new Tenancy(ds, {
      strategy: 'database',
      database: { dataSourceOptions: (t) => dataSourceOptions('sqlite', file(t), env.logger), maxOpen: tenants.length, idleTimeoutMs: 3_600_000 },
    });
    await ds.initialize();
    for (const id of tenants) await tenancy.open(id); // createQueryBuilder (list workload) is synchronous
    return {
      ops: tenantOps(tenancy),
      dataSource: ds,
      close: async () => {
        await tenancy.destroy();
        await ds.destroy();
        await admin.destroy();
        for (const id of tenants) for (const suffix of ['', '-wal', '-shm']) await rm(`${file(id)}${suffix}`, { force: true });
      },
    };
  },
};

/** Every variant, baseline first. */
export const variants: readonly Variant[] = [handWritten, tenantManager, rowLevelSecurity, rowLevelSecurityPrepared, schemaPerTenant, databasePerTenant];

export function variantsFor(db: DbKind, only?: string): Variant[] {
  return variants.filter((v) => v.databases.includes(db) && (only === undefined || v.key === only));
}
