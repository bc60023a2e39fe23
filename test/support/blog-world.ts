import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { DataSource, type DataSourceOptions, type EntityManager, In } from 'typeorm';
import { Tenancy, type TenancyOptions } from '../../src/index.js';
import { blogEntities, Category, Comment, Folder, Post, Setting, Tag, Tenant, User } from '../fixtures/blog.js';
import { adminQuery, conformanceKinds, createTestDatabase, type DatabaseKind, type TestDatabase } from './databases.js';
import { createAppRole } from './app-role.js';
import { StorageInspector } from './storage-inspector.js';

/** Statements a DataSource ran, for asserting the SQL the library produced. */
export class SqlLog {
  readonly statements: string[] = [];
  logQuery(query: string): void {
    this.statements.push(query);
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
  clear(): void {
    this.statements.length = 0;
  }
  matching(pattern: RegExp): string[] {
    return this.statements.filter((s) => pattern.test(s));
  }
}

/** Where the world keeps the tenants' rows: the storage strategy under test ('rls': row level plus PostgreSQL row-level security). */
export type WorldLayout = 'row' | 'rls' | 'schema' | 'database' | 'shards';

export interface WorldCase {
  /** Test-name label: the database kind for the row layout ("sqlite"), else kind and layout. */
  name: string;
  kind: DatabaseKind;
  layout: WorldLayout;
}

/**
 * The cases of the conformance suite: the row layout on every database, then the
 * other strategies where they run (database per tenant on SQLite and PostgreSQL;
 * schema per tenant and shards on PostgreSQL).
 */
export async function conformanceCases(): Promise<WorldCase[]> {
  const kinds = await conformanceKinds();
  const cases: WorldCase[] = kinds.map((kind) => ({ name: kind, kind, layout: 'row' }));
  cases.push({ name: 'sqlite, database per tenant', kind: 'sqlite', layout: 'database' });
  if (kinds.includes('postgres')) {
    cases.push(
      { name: 'postgres, row-level security', kind: 'postgres', layout: 'rls' },
      { name: 'postgres, schema per tenant', kind: 'postgres', layout: 'schema' },
      { name: 'postgres, database per tenant', kind: 'postgres', layout: 'database' },
      { name: 'postgres, two shards', kind: 'postgres', layout: 'shards' },
    );
  }
  return cases;
}

/**
 * Two tenants ("acme" = t1, "globex" = t2) with mirrored data plus deliberately
 * poisoned cross-tenant references (t1 rows pointing at t2 rows) that scoping
 * must hide.
 *
 * Row layout: one set of tables holds everything. Other layouts: each tenant's
 * storage (schema, database, shard) holds its own rows plus *strays* — copies of
 * the other tenant's rows, same ids, that its poison points at — so a probe meets
 * the foreign row twice: in the other storage (routing must not go there) and as
 * a stray in its own (row scoping must hide it). Each storage lacks rows the other
 * tenant's probes look for, so a query sent to the wrong storage shows.
 */
export interface BlogWorld {
  case: WorldCase;
  db: TestDatabase;
  /** The main DataSource (the one given to Tenancy). */
  dataSource: DataSource;
  tenancy: Tenancy;
  log: SqlLog;
  /** Plain, unscoped view of every storage (seeding, snapshots, "did anything leak"). */
  inspect: StorageInspector;
  t1: number;
  t2: number;
  alice: User;
  bob: User;
  posts: Record<'a1' | 'a2' | 'g1' | 'g2', Post>;
  /** Posts t1's manager reads with `{ safe: false }`: every post of its storage. */
  unsafePostCount: number;
  /** Whether the main DataSource's own plain manager reads tenant rows (row level without RLS only). */
  plainSeesTenantRows: boolean;
  /** The DataSource that runs a tenant's queries (the main one unless routed). */
  dataSourceOf(tenant: number): Promise<DataSource>;
  /** Creates a tenant through the catalog, with the shared rows (users) its storage needs, ready for use. */
  createTenant(name: string): Promise<number>;
  close(): Promise<void>;
}

/** Builds the world of a case; a bare database kind means the row layout. */
export async function createBlogWorld(setup: DatabaseKind | WorldCase): Promise<BlogWorld> {
  const worldCase: WorldCase = typeof setup === 'string' ? { name: setup, kind: setup, layout: 'row' } : setup;
  if (worldCase.layout === 'row') return createRowWorld(worldCase);
  return worldCase.layout === 'rls' ? createRlsWorld(worldCase) : createStorageWorld(worldCase);
}

async function createRowWorld(worldCase: WorldCase): Promise<BlogWorld> {
  const db = await createTestDatabase(worldCase.kind);
  const log = new SqlLog();
  const dataSource = new DataSource({ ...db.options, entities: blogEntities, synchronize: true, logger: log, logging: true } as never);
  // The plain default manager seeds and inspects every tenant's rows.
  const tenancy = new Tenancy(dataSource, { defaultManager: 'unscoped' });
  await dataSource.initialize();
  const m = dataSource.manager;
  const [acme, globex] = await m.save(Tenant, [{ name: 'acme' }, { name: 'globex' }]);
  const [alice, bob] = await m.save(User, [{ name: 'alice' }, { name: 'bob' }]);
  const seeded = await seedBlogRows(m, acme!.id, globex!.id, alice!, bob!);
  log.clear();
  return {
    case: worldCase,
    db,
    dataSource,
    tenancy,
    log,
    inspect: new StorageInspector([dataSource]),
    t1: acme!.id,
    t2: globex!.id,
    alice: alice!,
    bob: bob!,
    posts: seeded.posts,
    unsafePostCount: 5,
    plainSeesTenantRows: true,
    dataSourceOf: async () => dataSource,
    createTenant: async (name) => (await m.save(Tenant, { name })).id,
    close: async () => {
      if (dataSource.isInitialized) await dataSource.destroy();
      await db.drop();
    },
  };
}

/**
 * Row level under PostgreSQL row-level security: the row world's data, seeded and
 * inspected by the table owner (a superuser), while the Tenancy under test connects
 * as an application role the policies apply to (NOSUPERUSER NOBYPASSRLS), with a
 * BYPASSRLS role for `{ safe: false }`.
 */
async function createRlsWorld(worldCase: WorldCase): Promise<BlogWorld> {
  const owner = await createRowWorld({ ...worldCase, layout: 'row' });
  const suffix = randomBytes(4).toString('hex');
  const appRole = `tenancy_app_${suffix}`;
  const bypassRole = `tenancy_bypass_${suffix}`;
  const log = new SqlLog();
  let app: DataSource | undefined;
  const close = async () => {
    if (app?.isInitialized) await app.destroy();
    await owner.close();
    await adminQuery(`DROP ROLE IF EXISTS ${appRole}`);
    await adminQuery(`DROP ROLE IF EXISTS ${bypassRole}`);
  };
  try {
    const url = await createAppRole(owner.dataSource, appRole);
    await adminQuery(`CREATE ROLE ${bypassRole} NOLOGIN BYPASSRLS`);
    await adminQuery(`GRANT ${bypassRole} TO ${appRole}`);
    await owner.dataSource.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${bypassRole}`);
    await owner.dataSource.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${bypassRole}`);
    app = new DataSource({ type: 'postgres', url, entities: blogEntities, logger: log, logging: true });
    const tenancy = new Tenancy(app, { rowLevelSecurity: { bypassRole }, defaultManager: 'unscoped' });
    await app.initialize();
    const runner = owner.dataSource.createQueryRunner();
    await tenancy.rls.install(runner);
    await runner.release();
    const appDataSource = app;
    log.clear();
    return {
      ...owner,
      case: worldCase,
      dataSource: appDataSource,
      tenancy,
      log,
      plainSeesTenantRows: false,
      dataSourceOf: async () => appDataSource,
      createTenant: async (name) => ((await tenancy.tenants.create({ name })) as Tenant).id,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The rows of one storage (all of them for the row layout), in a fixed order so ids agree across storages. */
async function seedBlogRows(m: EntityManager, t1: number, t2: number, alice: User, bob: User) {
  const catA = await m.save(Category, { name: 'acme-cat', tenantId: t1 } as Category);
  const catG = await m.save(Category, { name: 'globex-cat', tenantId: t2 } as Category);
  const tagA = await m.save(Tag, { label: 'acme-tag', tenantId: t1 });
  const tagG = await m.save(Tag, { label: 'globex-tag', tenantId: t2 });
  const mk = (title: string, tenantId: number, author: User, likes: number, category: Category, tags: Tag[]) =>
    m.save(Post, { title, tenantId, author, likes, category, tags } as Post);
  const a1 = await mk('acme-1', t1, alice, 1, catA, [tagA]);
  const a2 = await mk('acme-2', t1, bob, 2, catA, [tagA]);
  const g1 = await mk('globex-1', t2, alice, 10, catG, [tagG]);
  const g2 = await mk('globex-2', t2, bob, 20, catG, [tagG]);
  await m.save(Comment, [
    { body: 'acme-c1', post: a1, tenantId: t1 },
    { body: 'globex-c1', post: g1, tenantId: t2 },
  ] as Comment[]);
  // Poison: an acme post whose category, tag and pinned comment target belong to globex.
  await mk('acme-poisoned', t1, alice, 3, catG, [tagG]);
  await m.save(Comment, { body: 'acme-c-poisoned', post: g1, tenantId: t1 } as Comment);
  const q = (name: string) => m.connection.driver.escape(name);
  await m.query(`UPDATE ${q('comments')} SET ${q('pinnedId')} = ${g1.id} WHERE ${q('body')} = 'acme-c-poisoned'`);
  await m.save(Setting, [
    { key: 'acme.theme', value: 'light', tenantId: t1 },
    { key: 'globex.theme', value: 'dark', tenantId: t2 },
  ]);
  const rootA = await m.save(Folder, { name: 'acme-root', tenantId: t1 } as Folder);
  await m.save(Folder, { name: 'acme-child', parent: rootA, tenantId: t1 } as Folder);
  const rootG = await m.save(Folder, { name: 'globex-root', tenantId: t2 } as Folder);
  await m.save(Folder, { name: 'globex-child-of-acme', parent: rootA, tenantId: t2 } as Folder);
  await m.save(Folder, { name: 'globex-child', parent: rootG, tenantId: t2 } as Folder);
  await m.save(Category, { name: 'acme-sub', parent: catA, tenantId: t1 } as Category);
  return { posts: { a1, a2, g1, g2 } };
}

/**
 * Turns a full copy of the rows into one tenant's storage: deletes the other
 * tenant's rows except the strays its poison needs (acme's storage keeps globex's
 * category, tag, post 1 and its comment, and the globex folder under acme's root;
 * globex's keeps acme's root folder, the parent of that folder).
 */
async function keepOwnRowsAndStrays(m: EntityManager, acmeStorage: boolean): Promise<void> {
  if (acmeStorage) {
    await m.delete(Setting, { key: 'globex.theme' });
    await m.delete(Post, { title: 'globex-2' });
    await m.delete(Folder, { name: In(['globex-child']) });
    await m.delete(Folder, { name: In(['globex-root']) });
    return;
  }
  await m.delete(Comment, { body: In(['acme-c1', 'acme-c-poisoned']) });
  await m.delete(Setting, { key: 'acme.theme' });
  await m.delete(Post, { title: In(['acme-1', 'acme-2', 'acme-poisoned']) });
  await m.delete(Category, { name: 'acme-sub' });
  await m.delete(Category, { name: 'acme-cat' });
  await m.delete(Tag, { label: 'acme-tag' });
  await m.delete(Folder, { name: 'acme-child' });
}

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

async function createStorageWorld(worldCase: WorldCase): Promise<BlogWorld> {
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
