import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSchemaName, StorageConflictError, Tenancy, type TenancyOptions, tenantStorageName } from '../../src/index.js';
import { CodeDoc, codeEntities, CodeTenant, UuidDoc, uuidEntities, UuidTenant } from '../fixtures/proof-keyed-entities.js';
import { adminQuery, createTestDatabase, databaseKinds, type DatabaseKind, type TestDatabase } from '../support/databases.js';
import { itWhen } from '../support/it-when.js';

// The tenant → storage mapping is injective: string keys that differ only in punctuation or
// letter case get their own schema, database or file, and tenants.create() refuses a storage
// another tenant has. Probed with string, uuid (any letter case) and integer keys on every strategy.

const identifier = /^[a-z_][a-z0-9_]{0,62}$/;

describe('tenantStorageName', () => {
  it('maps distinct keys to distinct plain identifiers of at most 63 characters', () => {
    const upperUuid = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11';
    const keys = ['a-b', 'a_b', 'A_B', 'A-B', 'a--b', '-a', 'a-', 'ab', 'a b', 'a.b', 'é', 'e', '', '42', '-42', upperUuid, upperUuid.toLowerCase(), 'x'.repeat(300), `${'x'.repeat(300)}y`];
    // A key that spells another key's hashed name cannot take it: plain names never contain "__".
    keys.push(tenantStorageName('A_B').slice('tenant_'.length), tenantStorageName('A_B').slice('tenant_'.length).replace(/_/g, '-'));
    const names = keys.map((k) => tenantStorageName(k));
    for (const name of names) expect(name).toMatch(identifier);
    expect(new Set(names).size).toBe(keys.length);
  });

  it('keeps the readable names of integer and lower-case uuid keys', () => {
    expect([tenantStorageName(42), defaultSchemaName(42), tenantStorageName('42')]).toEqual(['tenant_42', 'tenant_42', 'tenant_42']);
    expect(defaultSchemaName('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')).toBe('tenant_a0eebc99_9c0b_4ef8_bb6d_6bb9bd380a11');
    expect(tenantStorageName('a-b')).toBe('tenant_a_b');
    expect(tenantStorageName('a_b')).toMatch(/^tenant_a_b__[0-9a-f]{16}$/);
    expect(tenantStorageName(7, 'shop_')).toBe('shop_7');
  });
});

// ---- every strategy, string and uuid keys (integer keys: the blog fixture of the other strategy tests)

interface NamesCase {
  name: string;
  kind: DatabaseKind;
  options(db: TestDatabase, dir: string, prefix: string, shards: TestDatabase[]): TenancyOptions;
  shards?: number;
}

const pgUrl = (db: TestDatabase, database: string) => {
  const url = new URL(db.options.type === 'postgres' ? db.options.url : 'postgres://x');
  url.pathname = `/${database}`;
  return url.toString();
};

const allCases: NamesCase[] = [
  { name: 'row on sqlite', kind: 'sqlite', options: () => ({}) },
  { name: 'row on postgres', kind: 'postgres', options: () => ({}) },
  { name: 'schema per tenant', kind: 'postgres', options: () => ({ strategy: 'schema' }) },
  {
    name: 'database per tenant on sqlite',
    kind: 'sqlite',
    options: (_db, dir) => ({ strategy: 'database', database: { dataSourceOptions: (t) => ({ type: 'better-sqlite3', database: join(dir, `${tenantStorageName(t)}.sqlite`), synchronize: true }) } }),
  },
  {
    name: 'database per tenant on postgres',
    kind: 'postgres',
    options: (db, _dir, prefix) => ({ strategy: 'database', database: { dataSourceOptions: (t) => ({ type: 'postgres', url: pgUrl(db, tenantStorageName(t, prefix)), synchronize: true }) } }),
  },
  {
    name: 'shards',
    kind: 'postgres',
    shards: 2,
    options: (_db, _dir, _prefix, shards) => ({
      shards: Object.fromEntries(shards.map((s, i) => [`s${i}`, { type: 'postgres', url: (s.options as { url: string }).url, synchronize: true } as DataSourceOptions])),
      shardOf: (t) => `s${String(t).length % 2}`,
    }),
  },
];
const cases = allCases.filter((c) => databaseKinds().includes(c.kind));

describe.each(cases)('storage names: $name', (c) => {
  const dir = mkdtempSync(join(tmpdir(), 'tenancy-names-'));
  const prefix = `tn${Math.random().toString(36).slice(2, 7)}_`;
  const made: Array<{ main: DataSource; tenancy: Tenancy; db: TestDatabase; shards: TestDatabase[] }> = [];

  async function world(entities: Function[], override: Partial<TenancyOptions> = {}) {
    const db = await createTestDatabase(c.kind);
    const shards: TestDatabase[] = [];
    for (let i = 0; i < (c.shards ?? 0); i++) shards.push(await createTestDatabase('postgres'));
    const main = new DataSource({ ...db.options, entities, synchronize: true } as never);
    const tenancy = new Tenancy(main, { defaultManager: 'unscoped', ...c.options(db, dir, prefix, shards), ...override });
    await main.initialize();
    made.push({ main, tenancy, db, shards });
    return { main, tenancy };
  }

  afterAll(async () => {
    for (const { main, tenancy, db, shards } of made) {
      await tenancy.destroy();
      await main.destroy();
      await db.drop();
      for (const s of shards) await s.drop();
    }
    if (c.kind === 'postgres') {
      const dbs = (await adminQuery(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [`${prefix}%`])) as Array<{ datname: string }>;
      for (const { datname } of dbs) await adminQuery(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('string keys a-b, a_b and A_B are three tenants with their own rows (and storages)', async () => {
    const { main, tenancy } = await world(codeEntities);
    const codes = ['a-b', 'a_b', 'A_B'];
    for (const code of codes) await tenancy.tenants.create({ code, name: code });
    for (const code of codes) await tenancy.manager(code).save(CodeDoc, { title: `doc of ${code}` });
    for (const code of codes) expect((await tenancy.manager(code).find(CodeDoc)).map((d) => d.title)).toEqual([`doc of ${code}`]);
    if (c.name === 'schema per tenant') {
      const schemas = (await main.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant_a_b%' ORDER BY 1`)) as Array<{ nspname: string }>;
      expect(schemas.map((s) => s.nspname).sort()).toEqual(codes.map(defaultSchemaName).sort());
      expect(new Set(schemas.map((s) => s.nspname)).size).toBe(3);
    }
    if (c.name === 'database per tenant on sqlite') for (const code of codes) expect(existsSync(join(dir, `${tenantStorageName(code)}.sqlite`))).toBe(true);
    if (c.name === 'database per tenant on postgres') {
      const dbs = await adminQuery(`SELECT datname FROM pg_database WHERE datname = ANY($1)`, [codes.map((k) => tenantStorageName(k, prefix))]);
      expect(dbs).toHaveLength(3);
    }
    expect(await main.manager.count(CodeTenant)).toBe(3);
  });

  it('a uuid tenant is the same tenant in any letter case', async () => {
    const { tenancy } = await world(uuidEntities);
    const one = (await tenancy.tenants.create({ name: 'one' })) as UuidTenant;
    const two = (await tenancy.tenants.create({ name: 'two' })) as UuidTenant;
    await tenancy.manager(one.id.toUpperCase()).save(UuidDoc, { title: 'one-doc' });
    await tenancy.manager(two.id).save(UuidDoc, { title: 'two-doc' });
    expect((await tenancy.manager(one.id).find(UuidDoc)).map((d) => d.title)).toEqual(['one-doc']);
    expect((await tenancy.manager(one.id.toUpperCase()).find(UuidDoc)).map((d) => d.title)).toEqual(['one-doc']);
    expect((await tenancy.manager(two.id.toUpperCase()).find(UuidDoc)).map((d) => d.title)).toEqual(['two-doc']);
  });

  itWhen(c.name.startsWith('schema') || c.name.startsWith('database'))(
    'tenants.create() refuses a storage that belongs to another tenant (StorageConflictError); nothing of the refused tenant is kept',
    async () => {
      // A name function that folds letter case: A_B would land in a_b's storage.
      const folded = (t: string | number) => `${prefix}${String(t).toLowerCase().replace(/[^a-z0-9]/g, '_')}`;
      const override: Partial<TenancyOptions> = c.name.startsWith('schema')
        ? { schema: { schemaName: (t) => folded(t) } }
        : c.kind === 'sqlite'
          ? { database: { dataSourceOptions: (t) => ({ type: 'better-sqlite3', database: join(dir, `${folded(t)}.sqlite`), synchronize: true }) } }
          : { database: { dataSourceOptions: (t) => ({ type: 'postgres', url: pgUrl(made[0]!.db, `${folded(t)}_db`), synchronize: true }) } };
      const { main, tenancy } = await world(codeEntities, override);
      await tenancy.tenants.create({ code: 'a_b', name: 'first' });
      await tenancy.manager('a_b').save(CodeDoc, { title: 'first-doc' });
      const files = c.kind === 'sqlite' ? readdirSync(dir).sort() : [];
      await expect(tenancy.tenants.create({ code: 'A_B', name: 'second' })).rejects.toBeInstanceOf(StorageConflictError);
      expect((await main.manager.find(CodeTenant)).map((t) => t.code)).toEqual(['a_b']);
      // The first tenant's storage is intact (not dropped by the refused create's clean-up).
      expect((await tenancy.manager('a_b').find(CodeDoc)).map((d) => d.title)).toEqual(['first-doc']);
      if (c.kind === 'sqlite') expect(readdirSync(dir).sort()).toEqual(files);
    },
  );
});
