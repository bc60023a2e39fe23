import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { Tenancy, type TenancyOptions } from '../../src/index.js';
import { blogEntities, Post, Tenant, User } from '../fixtures/blog.js';
import type { BlogWorld, WorldCase } from './blog-world.js';
import { keepOwnRowsAndStrays, seedBlogRows } from './blog-rows.js';
import { adminQuery, createTestDatabase, type TestDatabase } from './databases.js';
import { SqlLog } from './sql-log.js';
import { StorageInspector } from './storage-inspector.js';

// The layouts whose tenants' rows live in separate storages: schema per tenant, database per
// tenant and shards. Each storage gets the row world's data, then keeps its own tenant's rows
// and the strays its poison needs (see BlogWorld).

/** What a layout other than row needs: its Tenancy options and a plain DataSource per tenant storage. */
interface StorageLayout {
  tenancyOptions: TenancyOptions;
  /** Plain connection options that reach one tenant's storage (its schema, database or shard). */
  storageOptions(tenant: number): DataSourceOptions | Promise<DataSourceOptions>;
  /** Shared tables live once (schema layout) rather than in every storage. */
  sharedOnce: boolean;
  cleanup(tenants: number[]): Promise<void>;
}

function pgUrlOf(db: TestDatabase): string {
  if (db.options.type !== 'postgres') throw new Error(`${db.kind} is not PostgreSQL`);
  return db.options.url;
}

function withDatabase(url: string, database: string): string {
  const next = new URL(url);
  next.pathname = `/${database}`;
  return next.toString();
}

async function storageLayout(worldCase: WorldCase, db: TestDatabase): Promise<StorageLayout> {
  const common = { entities: blogEntities, logging: false } as const;
  if (worldCase.layout === 'schema') {
    const url = pgUrlOf(db);
    return {
      tenancyOptions: { strategy: 'schema' },
      // A session search_path is fine for the inspector: it is a connection of the test's own.
      storageOptions: (t) => ({ type: 'postgres', url, ...common, extra: { options: `-c search_path=tenant_${t},public` } }),
      sharedOnce: true,
      cleanup: async () => undefined,
    };
  }
  if (worldCase.layout === 'database' && worldCase.kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'tenancy-world-'));
    const file = (t: number) => join(dir, `tenant_${t}.sqlite`);
    return {
      tenancyOptions: { strategy: 'database', database: { dataSourceOptions: (t) => ({ type: 'better-sqlite3', database: file(Number(t)), synchronize: true }) } },
      storageOptions: (t) => ({ type: 'better-sqlite3', database: file(t), ...common }),
      sharedOnce: false,
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  if (worldCase.layout === 'database') {
    const url = pgUrlOf(db);
    const base = decodeURIComponent(new URL(url).pathname.slice(1));
    const urlOf = (t: number) => withDatabase(url, `${base}_t${t}`);
    return {
      tenancyOptions: { strategy: 'database', database: { dataSourceOptions: (t) => ({ type: 'postgres', url: urlOf(Number(t)), synchronize: true }) } },
      storageOptions: (t) => ({ type: 'postgres', url: urlOf(t), ...common }),
      sharedOnce: false,
      cleanup: async (tenants) => {
        for (const t of tenants) await adminQuery(`DROP DATABASE IF EXISTS ${base}_t${t} WITH (FORCE)`);
      },
    };
  }
  // Shards from a directory table in the catalog database (an asynchronous shardOf); a new tenant is assigned on first lookup.
  const east = await createTestDatabase('postgres');
  const west = await createTestDatabase('postgres');
  const directory = new pg.Pool({ connectionString: pgUrlOf(db), max: 2 });
  await directory.query('CREATE TABLE tenant_shards (tenant_id int PRIMARY KEY, shard text NOT NULL)');
  const shardOf = async (t: number): Promise<'east' | 'west'> => {
    await directory.query('INSERT INTO tenant_shards VALUES ($1, $2) ON CONFLICT DO NOTHING', [t, t % 2 ? 'east' : 'west']);
    return (await directory.query('SELECT shard FROM tenant_shards WHERE tenant_id = $1', [t])).rows[0].shard;
  };
  const shards = { east, west };
  return {
    tenancyOptions: {
      shards: { east: { type: 'postgres', url: pgUrlOf(east), synchronize: true }, west: { type: 'postgres', url: pgUrlOf(west), synchronize: true } },
      shardOf: (t) => shardOf(Number(t)),
    },
    storageOptions: async (t) => ({ type: 'postgres', url: pgUrlOf(shards[await shardOf(t)]), ...common }),
    sharedOnce: false,
    cleanup: async () => {
      await directory.end();
      await east.drop();
      await west.drop();
    },
  };
}

/** A plain DataSource over one storage; its own Tenancy ('unscoped', row) only adds the tenant column to its metadata. */
async function openStorage(options: DataSourceOptions): Promise<DataSource> {
  const storage = new DataSource(options);
  new Tenancy(storage, { defaultManager: 'unscoped' });
  return storage.initialize();
}

export async function createStorageWorld(worldCase: WorldCase): Promise<BlogWorld> {
  const db = await createTestDatabase(worldCase.kind);
  const layout = await storageLayout(worldCase, db);
  const log = new SqlLog();
  const dataSource = new DataSource({ ...db.options, entities: blogEntities, synchronize: true, logger: log, logging: true } as never);
  const tenancy = new Tenancy(dataSource, { defaultManager: 'unscoped', ...layout.tenancyOptions });
  await dataSource.initialize();
  const tenants: number[] = [];
  const storages: DataSource[] = [];
  const routed = worldCase.layout === 'database' || worldCase.layout === 'shards';
  const dataSourceOf = async (tenant: number) => (routed ? tenancy.manager(tenant).transaction(async (tx) => tx.connection) : dataSource);
  const addSharedRows = async (storage: DataSource, others: Tenant[]) => {
    // A tenant database or shard holds its own tenant row (the catalog copies it); the strays need the other's too.
    for (const other of others) {
      if (await storage.manager.existsBy(Tenant, { id: other.id })) continue;
      const q = (name: string) => storage.driver.escape(name);
      await storage.query(`INSERT INTO ${q('tenants')} (${q('id')}, ${q('name')}) VALUES (${other.id}, '${other.name}')`);
    }
    return storage.manager.save(User, [{ name: 'alice' }, { name: 'bob' }]);
  };
  try {
    const acme = (await tenancy.tenants.create({ name: 'acme' })) as Tenant;
    const globex = (await tenancy.tenants.create({ name: 'globex' })) as Tenant;
    tenants.push(acme.id, globex.id);
    let users = layout.sharedOnce ? await dataSource.manager.save(User, [{ name: 'alice' }, { name: 'bob' }]) : undefined;
    let posts: BlogWorld['posts'] | undefined;
    for (const tenant of [acme, globex]) {
      const storage = await openStorage(await layout.storageOptions(tenant.id));
      storages.push(storage);
      const shared = layout.sharedOnce ? users! : await addSharedRows(storage, [acme, globex]);
      users ??= shared;
      const seeded = await seedBlogRows(storage.manager, acme.id, globex.id, shared[0]!, shared[1]!);
      posts ??= seeded.posts;
      await keepOwnRowsAndStrays(storage.manager, tenant === acme);
    }
    // Routed managers build query builders synchronously on an open DataSource.
    for (const t of tenants) await tenancy.open(t);
    const inspect = new StorageInspector(storages);
    const unsafePostCount = await storages[0]!.manager.count(Post);
    log.clear();
    return {
      case: worldCase,
      db,
      dataSource,
      tenancy,
      log,
      inspect,
      t1: acme.id,
      t2: globex.id,
      alice: users![0]!,
      bob: users![1]!,
      posts: posts!,
      unsafePostCount,
      plainSeesTenantRows: false,
      dataSourceOf,
      createTenant: async (name) => {
        const tenant = (await tenancy.tenants.create({ name })) as Tenant;
        tenants.push(tenant.id);
        await tenancy.open(tenant.id);
        if (!layout.sharedOnce) {
          const storage = await dataSourceOf(tenant.id);
          if (!(await storage.manager.count(User))) await storage.manager.save(User, [{ name: 'alice' }, { name: 'bob' }]);
        }
        return tenant.id;
      },
      close: () => closeStorageWorld(),
    };
  } catch (error) {
    await closeStorageWorld();
    throw error;
  }

  async function closeStorageWorld(): Promise<void> {
    for (const storage of storages) if (storage.isInitialized) await storage.destroy();
    await tenancy.destroy();
    if (dataSource.isInitialized) await dataSource.destroy();
    await layout.cleanup(tenants);
    await db.drop();
  }
}
