// One application, every storage strategy: the same code runs on row level (one set of tables),
// one SQLite database file per tenant, and — when DATABASE_URL names a PostgreSQL server — one
// schema per tenant (in a database created for the run and dropped at the end).
import 'reflect-metadata';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { Tenancy, type TenancyOptions } from '../../src/index.js';
import { Post, Tenant, User } from '../blog/entities.js';

/** The application: knows nothing of the strategy, only `tenancy`. */
async function app(tenancy: Tenancy): Promise<void> {
  const tenants = [] as Tenant[];
  for (const name of ['acme', 'globex']) tenants.push((await tenancy.tenants.create({ name })) as Tenant);
  for (const tenant of tenants) {
    await tenancy.run(tenant, async () => {
      const em = tenancy.current();
      const author = await em.save(User, { name: `${tenant.name}-author` });
      await em.save(Post, [{ title: `${tenant.name}: hello`, author }, { title: `${tenant.name}: news`, author }]);
    });
  }
  for (const tenant of tenants) {
    const titles = (await tenancy.manager(tenant).find(Post, { order: { title: 'ASC' } })).map((p) => p.title);
    console.log(`  ${tenant.name} sees ${JSON.stringify(titles)}`);
  }
  const summary = await tenancy.migrateAll();
  console.log(`  migrateAll: ${summary.total ? `${summary.succeeded.length} of ${summary.total} tenant storages up to date` : 'one set of tables, migrated once'}`);
}

async function run(label: string, main: DataSourceOptions, options: TenancyOptions, where: () => Promise<string>): Promise<void> {
  console.log(`\n=== ${label} ===`);
  const dataSource = new DataSource({ ...main, entities: [Tenant, User, Post], synchronize: true });
  const tenancy = new Tenancy(dataSource, options);
  await dataSource.initialize();
  try {
    await app(tenancy);
    console.log(`  rows live in: ${await where()}`);
  } finally {
    await tenancy.destroy();
    await dataSource.destroy();
  }
}

async function main(): Promise<void> {
  const memory: DataSourceOptions = { type: 'better-sqlite3', database: ':memory:' };
  await run('row level: one set of tables, tenant_id in every row', memory, {}, async () => 'one posts table with a tenant_id column');

  const dir = mkdtempSync(join(tmpdir(), 'tenancy-strategies-'));
  try {
    await run(
      'database per tenant: one SQLite file each',
      memory,
      { strategy: 'database', database: { dataSourceOptions: (t) => ({ type: 'better-sqlite3', database: join(dir, `tenant_${t}.sqlite`), synchronize: true }) } },
      async () => readdirSync(dir).sort().join(', '),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const url = process.env.DATABASE_URL;
  if (!url?.startsWith('postgres')) {
    console.log('\n(schema per tenant needs PostgreSQL: set DATABASE_URL=postgres://… to run it too)');
    return;
  }
  const name = `tenancy_strategies_${process.pid}`;
  const admin = new DataSource({ type: 'postgres', url });
  await admin.initialize();
  await admin.query(`CREATE DATABASE ${name}`);
  try {
    const own = new URL(url);
    own.pathname = `/${name}`;
    const db = new DataSource({ type: 'postgres', url: own.toString() });
    await run('schema per tenant: one PostgreSQL schema each', { type: 'postgres', url: own.toString() }, { strategy: 'schema' }, async () => {
      await db.initialize();
      const rows = (await db.query(`SELECT table_schema AS s FROM information_schema.tables WHERE table_name = 'posts' ORDER BY 1`)) as Array<{ s: string }>;
      await db.destroy();
      return rows.map((r) => `${r.s}.posts`).join(', ') + ' (public.posts stays empty)';
    });
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
