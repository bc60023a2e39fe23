import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, type MigrationInterface } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tenancy, type TenancyOptions } from '../../src/index.js';
import { blogEntities, Tag, Tenant } from '../fixtures/blog.js';
import { adminQuery, createTestDatabase, databaseKinds, type DatabaseKind, type TestDatabase } from '../support/databases.js';

// tenants.create() is all or nothing on every strategy: a failure after the storage was written
// (the catalog's commit, a tenant migration) leaves no tenant row, no schema, no database and no
// row in a shard, and the next create works.

const pgUrl = (db: TestDatabase, database: string) => {
  const url = new URL(db.options.type === 'postgres' ? db.options.url : 'postgres://x');
  url.pathname = `/${database}`;
  return url.toString();
};

class FailingMigration implements MigrationInterface {
  name = 'Failing1700000000000';
  async up(): Promise<void> {
    throw new Error('tenant migration failed');
  }
  async down(): Promise<void> {}
}

interface World {
  dir: string;
  prefix: string;
  shards: TestDatabase[];
  /** Set while the next create must fail after its storage is written (SQLite: through a tenant migration). */
  failNext: { on: boolean };
}

interface CreateCase {
  name: string;
  kind: DatabaseKind;
  options(db: TestDatabase, world: World): TenancyOptions;
  /** Whether any storage of the tenant is left (schema, database, file, shard row). */
  storageLeft(db: TestDatabase, world: World, tenantId: number): Promise<boolean>;
}

const shardUrl = (world: World, i: number) => (world.shards[i]!.options.type === 'postgres' ? (world.shards[i]!.options as { url: string }).url : '');
const shardOfId = (t: unknown) => (Number(t) % 2 ? 0 : 1);

const allCases: CreateCase[] = [
  { name: 'row on postgres', kind: 'postgres', options: () => ({}), storageLeft: async () => false },
  {
    name: 'schema per tenant',
    kind: 'postgres',
    options: () => ({ strategy: 'schema' }),
    storageLeft: async (db, _w, id) => {
      const main = new DataSource({ ...db.options } as never);
      await main.initialize();
      const rows = (await main.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [`tenant_${id}`])) as unknown[];
      await main.destroy();
      return rows.length > 0;
    },
  },
  {
    name: 'database per tenant on postgres',
    kind: 'postgres',
    options: (db, { prefix }) => ({ strategy: 'database', database: { dataSourceOptions: (t) => ({ type: 'postgres', url: pgUrl(db, `${prefix}_${t}`), synchronize: true }) } }),
    storageLeft: async (_db, { prefix }, id) => (await adminQuery(`SELECT 1 FROM pg_database WHERE datname = $1`, [`${prefix}_${id}`])).length > 0,
  },
  {
    name: 'database per tenant on sqlite',
    kind: 'sqlite',
    options: (_db, { dir, failNext }) => ({
      strategy: 'database',
      database: {
        dataSourceOptions: (t) => ({ type: 'better-sqlite3', database: join(dir, `${t}.sqlite`), synchronize: true, migrations: failNext.on ? [FailingMigration] : [] }),
      },
    }),
    storageLeft: async (_db, { dir }, id) => existsSync(join(dir, `${id}.sqlite`)),
  },
  {
    name: 'shards on postgres',
    kind: 'postgres',
    options: (_db, world) => ({
      shards: { east: { type: 'postgres', url: shardUrl(world, 0), synchronize: true }, west: { type: 'postgres', url: shardUrl(world, 1), synchronize: true } },
      shardOf: (t) => (shardOfId(t) === 0 ? 'east' : 'west'),
    }),
    storageLeft: async (_db, world, id) => {
      const shard = new DataSource({ type: 'postgres', url: shardUrl(world, shardOfId(id)) });
      await shard.initialize();
      const rows = (await shard.query(`SELECT 1 FROM tenants WHERE id = $1`, [id])) as unknown[];
      await shard.destroy();
      return rows.length > 0;
    },
  },
];
const cases = allCases.filter((c) => databaseKinds().includes(c.kind));

describe.each(cases)('tenants.create() is all or nothing: $name', (c) => {
  let db: TestDatabase;
  let main: DataSource;
  let tenancy: Tenancy;
  const world: World = { dir: mkdtempSync(join(tmpdir(), 'tenancy-create-')), prefix: `tenancy_cr_${Math.random().toString(36).slice(2, 8)}`, shards: [], failNext: { on: false } };
  const ids: number[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(c.kind);
    if (c.name.startsWith('shards')) world.shards.push(await createTestDatabase('postgres'), await createTestDatabase('postgres'));
    main = new DataSource({ ...db.options, entities: blogEntities, synchronize: true } as never);
    tenancy = new Tenancy(main, { defaultManager: 'unscoped', ...c.options(db, world) });
    await main.initialize();
    if (c.kind === 'postgres') {
      // Fails at COMMIT, after every storage step of the create ran.
      await main.query(`CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.name = 'boom' THEN RAISE EXCEPTION 'boom refused at commit'; END IF; RETURN NEW; END $$`);
      await main.query(`CREATE CONSTRAINT TRIGGER refuse_boom AFTER INSERT ON tenants DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_boom()`);
    }
  });
  afterAll(async () => {
    await tenancy?.destroy();
    await main?.destroy();
    if (c.name.startsWith('database per tenant on postgres')) for (const id of ids) await adminQuery(`DROP DATABASE IF EXISTS ${world.prefix}_${id} WITH (FORCE)`);
    await db?.drop();
    for (const shard of world.shards) await shard.drop();
    rmSync(world.dir, { recursive: true, force: true });
  });

  it('a failure after the storage was written leaves nothing behind; the next create works', async () => {
    const first = (await tenancy.tenants.create({ name: 'first' })) as Tenant;
    ids.push(first.id);
    world.failNext.on = true;
    await expect(tenancy.tenants.create({ name: 'boom' })).rejects.toThrow(/boom refused at commit|tenant migration failed/);
    world.failNext.on = false;
    const failedId = first.id + 1; // the id the failed create was given
    ids.push(failedId);
    expect((await main.manager.find(Tenant)).map((t) => t.name)).toEqual(['first']);
    expect(await c.storageLeft(db, world, failedId)).toBe(false);
    const next = (await tenancy.tenants.create({ name: 'next' })) as Tenant;
    ids.push(next.id);
    for (const t of [first, next]) await tenancy.manager(t).save(Tag, { label: `${t.name}-tag` });
    for (const t of [first, next]) expect((await tenancy.manager(t).find(Tag)).map((x) => x.label)).toEqual([`${t.name}-tag`]);
  });
});

describe.skipIf(!databaseKinds().includes('postgres'))('shards: a leftover tenant row in a shard does not block a later create', () => {
  let db: TestDatabase;
  const shards: TestDatabase[] = [];
  let main: DataSource;
  let tenancy: Tenancy;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    shards.push(await createTestDatabase('postgres'), await createTestDatabase('postgres'));
    const url = (i: number) => (shards[i]!.options as { url: string }).url;
    main = new DataSource({ ...db.options, entities: blogEntities, synchronize: true } as never);
    tenancy = new Tenancy(main, {
      defaultManager: 'unscoped',
      shards: { east: { type: 'postgres', url: url(0), synchronize: true }, west: { type: 'postgres', url: url(1), synchronize: true } },
      shardOf: (t) => (Number(t) % 2 ? 'east' : 'west'),
    });
    await main.initialize();
  });
  afterAll(async () => {
    await tenancy?.destroy();
    await main?.destroy();
    await db?.drop();
    for (const shard of shards) await shard.drop();
  });

  it('the leftover row (and its rows) is replaced by the new tenant', async () => {
    await tenancy.tenants.create({ name: 'warm-up' }); // opens both shards' tables
    await main.query(`SELECT setval(pg_get_serial_sequence('tenants', 'id'), 40)`); // the next tenant is 41 (east)
    const east = new DataSource({ type: 'postgres', url: (shards[0]!.options as { url: string }).url });
    await east.initialize();
    await east.query(`INSERT INTO tenants (id, name) VALUES (41, 'leftover')`);
    await east.query(`INSERT INTO tags (label, tenant_id) VALUES ('orphan', 41)`);
    const created = (await tenancy.tenants.create({ name: 'fresh' })) as Tenant;
    expect(created.id).toBe(41);
    expect(await east.query(`SELECT name FROM tenants WHERE id = 41`)).toEqual([{ name: 'fresh' }]);
    expect(await tenancy.manager(created).find(Tag)).toEqual([]);
    await east.destroy();
  });
});
