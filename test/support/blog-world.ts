import { DataSource } from 'typeorm';
import { Tenancy } from '../../src/index.js';
import { blogEntities, Tenant, User, type Post } from '../fixtures/blog.js';
import { type RlsApp, startRlsApp } from './app-role.js';
import { seedBlogRows } from './blog-rows.js';
import { conformanceKinds, createTestDatabase, type DatabaseKind, type TestDatabase } from './databases.js';
import { SqlLog } from './sql-log.js';
import { StorageInspector } from './storage-inspector.js';
import { createStorageWorld } from './storage-world.js';

export { SqlLog } from './sql-log.js';

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
  const log = new SqlLog();
  let rls: RlsApp;
  try {
    rls = await startRlsApp(owner.dataSource, { entities: blogEntities, prefix: 'tenancy_app', bypass: true, logger: log });
  } catch (error) {
    await owner.close();
    throw error;
  }
  const { app, tenancy } = rls;
  log.clear();
  return {
    ...owner,
    case: worldCase,
    dataSource: app,
    tenancy,
    log,
    plainSeesTenantRows: false,
    dataSourceOf: async () => app,
    createTenant: async (name) => ((await tenancy.tenants.create({ name })) as Tenant).id,
    close: async () => {
      await rls.close();
      await owner.close();
    },
  };
}
