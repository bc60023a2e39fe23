import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageUnavailableError, Tenancy, UnknownTenantError } from '../../src/index.js';
import { blogEntities, Tag, Tenant } from '../fixtures/blog.js';
import { adminQuery, createTestDatabase, type DatabaseKind, databaseKinds, type TestDatabase } from '../support/databases.js';

// Database per tenant: a removed (or never created) tenant is an UnknownTenantError on SQLite and
// PostgreSQL alike, and no database or file is ever created outside tenants.create().
/**
 * A main DataSource (the tenant table) under the database strategy on `kind`, set up before the
 * suite's tests and removed after: tenant databases (or SQLite files) named `storageName(t)`.
 */
function databaseStrategy(kind: DatabaseKind, defaultManager: 'context' | 'unscoped', label: string) {
  const world = {} as { db: TestDatabase; main: DataSource; tenancy: Tenancy };
  const dir = mkdtempSync(join(tmpdir(), `tenancy-${label}-`));
  const prefix = `tenancy_${label}_${Math.random().toString(36).slice(2, 8)}`;
  const storageName = (t: string | number) => (kind === 'sqlite' ? join(dir, `tenant-${t}.sqlite`) : `${prefix}_${t}`);
  beforeAll(async () => {
    world.db = await createTestDatabase(kind);
    const { db } = world;
    world.main = new DataSource({ ...db.options, entities: blogEntities, synchronize: true } as never);
    world.tenancy = new Tenancy(world.main, {
      strategy: 'database',
      defaultManager,
      database: {
        dataSourceOptions: (t) => {
          if (kind === 'sqlite') return { type: 'better-sqlite3', database: storageName(t), synchronize: true };
          const url = new URL(db.options.type === 'postgres' ? db.options.url : '');
          url.pathname = `/${storageName(t)}`;
          return { type: 'postgres', url: url.toString(), synchronize: true };
        },
      },
    });
    await world.main.initialize();
  });
  afterAll(async () => {
    await world.tenancy?.destroy();
    await world.main?.destroy();
    if (kind === 'postgres') for (let id = 1; id < 10; id++) await adminQuery(`DROP DATABASE IF EXISTS ${prefix}_${id} WITH (FORCE)`);
    await world.db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { world, storageName };
}

describe.each(databaseKinds())("strategy 'database' on %s: removed and unknown tenants", (kind) => {
  const { world, storageName } = databaseStrategy(kind, 'unscoped', 'rm');
  const storageExists = async (t: string | number) =>
    kind === 'sqlite' ? existsSync(storageName(t)) : (await adminQuery('SELECT 1 FROM pg_database WHERE datname = $1', [storageName(t)])).length > 0;

  it('a removed tenant is UnknownTenantError on every call; its storage is not re-created', async () => {
    const { tenancy } = world;
    const gone = (await tenancy.tenants.create({ name: 'gone' })) as Tenant;
    const kept = (await tenancy.tenants.create({ name: 'kept' })) as Tenant;
    await tenancy.manager(gone).save(Tag, { label: 'gone-tag' });
    await tenancy.manager(kept).save(Tag, { label: 'kept-tag' });
    await tenancy.tenants.remove(gone);
    expect(await storageExists(gone.id)).toBe(false);
    const calls: Array<() => Promise<unknown>> = [() => tenancy.manager(gone).find(Tag), () => tenancy.manager(gone).save(Tag, { label: 'x' }), () => tenancy.open(gone)];
    for (const call of calls) {
      const error = await Promise.resolve().then(call).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnknownTenantError);
      expect((error as UnknownTenantError).tenant).toBe(gone.id);
    }
    expect(await storageExists(gone.id)).toBe(false);
    // Another tenant's rows are not reachable through the removed one, and the kept one works.
    expect((await tenancy.manager(kept).find(Tag)).map((t) => t.label)).toEqual(['kept-tag']);
  });

  it('a tenant that was never created is UnknownTenantError, and no storage is created for it', async () => {
    const { tenancy } = world;
    await expect(tenancy.manager(999).find(Tag)).rejects.toBeInstanceOf(UnknownTenantError);
    expect(await storageExists(999)).toBe(false);
    const summary = await tenancy.migrateAll();
    expect(summary.failed).toEqual([]);
    expect(await storageExists(999)).toBe(false);
  });

  it('a tenant whose storage went missing is StorageUnavailableError; nothing is re-created', async () => {
    const { tenancy } = world;
    const lost = (await tenancy.tenants.create({ name: 'lost' })) as Tenant;
    await tenancy.destroy();
    if (kind === 'sqlite') rmSync(storageName(lost.id));
    else await adminQuery(`DROP DATABASE ${storageName(lost.id)} WITH (FORCE)`);
    await expect(tenancy.manager(lost).find(Tag)).rejects.toBeInstanceOf(StorageUnavailableError);
    const summary = await tenancy.migrateAll();
    expect(summary.failed.map((f) => [f.tenant, f.error instanceof StorageUnavailableError])).toEqual([[lost.id, true]]);
    expect(await storageExists(lost.id)).toBe(false);
  });
});

// tenancy.run() routes the main DataSource's builders to the bound tenant's database ('context'
// mode); the tenant catalog must still answer from the main DataSource's tenant table.
describe.each(databaseKinds())("strategy 'database' on %s: tenants.exists() inside tenancy.run()", (kind) => {
  const { world } = databaseStrategy(kind, 'context', 'ex');

  it('answers from the tenant table of the main DataSource, for the bound tenant, another one and a missing one', async () => {
    const { tenancy, main } = world;
    const a = (await tenancy.tenants.create({ name: 'a' })) as Tenant;
    const b = (await tenancy.tenants.create({ name: 'b' })) as Tenant;
    await tenancy.manager(a).save(Tag, { label: 'a-tag' });
    const answers = await tenancy.run(a, async () => ({
      self: await tenancy.tenants.exists(a),
      other: await tenancy.tenants.exists(b),
      missing: await tenancy.tenants.exists(999),
      // The bound tenant's own rows, through the routed default manager, in the same run().
      tags: (await main.manager.find(Tag)).map((t) => t.label),
    }));
    expect(answers).toEqual({ self: true, other: true, missing: false, tags: ['a-tag'] });
    await tenancy.tenants.remove(b);
    expect(await tenancy.run(a, () => tenancy.tenants.exists(b))).toBe(false);
  });
});
