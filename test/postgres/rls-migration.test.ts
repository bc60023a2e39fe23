import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as typeorm from 'typeorm';
import { DataSource, type MigrationInterface } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as lib from '../../src/index.js';
import { Tenancy, TenancyConfigError } from '../../src/index.js';
import { blogEntities, Comment } from '../fixtures/blog.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/databases.js';

// The RLS migration on a database that has nothing yet, as a project adopting it runs it: TypeORM's
// own `migration:generate` writes the schema migration, then `dataSource.runMigrations()` runs it
// and `tenancy.rls.migration()`. And the policy DDL without a database at all.

const root = join(import.meta.dirname, '..', '..');
const require = createRequire(import.meta.url);
const { createWorld } = require('../fixtures/cli-world.cjs') as {
  createWorld(t: typeof typeorm, l: typeof lib): { dataSource: DataSource; tenancy: Tenancy };
};
const hasPostgres = databaseKinds().includes('postgres');
const unreachable = 'postgres://nobody:secret@127.0.0.1:1/nowhere';

/** The CLI fixture's Tenant/Note world on `url` (rowLevelSecurity, no synchronize), with this process's library. */
function fixtureWorld(url: string): { dataSource: DataSource; tenancy: Tenancy } {
  const env = { CLI_FIXTURE_PG_URL: url, CLI_FIXTURE_RLS: '1', CLI_FIXTURE_SYNCHRONIZE: '0' };
  Object.assign(process.env, env);
  try {
    return createWorld(typeorm, lib);
  } finally {
    for (const name of Object.keys(env)) delete process.env[name];
  }
}

describe('rls DDL without a database', () => {
  it('statements(), migrationSource() and migration() need no connection: the DataSource (unreachable) is never connected', async () => {
    const dataSource = new DataSource({ type: 'postgres', url: unreachable, entities: blogEntities });
    const tenancy = new Tenancy(dataSource, { rowLevelSecurity: { bypassRole: 'tenancy_bypass' } });
    const { up, down } = tenancy.rls.statements();
    expect(up.filter((s) => s.startsWith('CREATE POLICY')).map((s) => s.split('"')[3])).toEqual(['categories', 'comments', 'folders', 'posts', 'settings', 'tags', 'tenants', 'tenants', 'tenants']);
    expect(up).toContain(
      `CREATE POLICY "tenancy_isolation" ON "posts" USING ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')::integer) WITH CHECK ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')::integer)`,
    );
    // Per scoped table 4 up and 3 down; the tenant table 8 up and 5 down.
    expect(down).toHaveLength(((up.length - 8) / 4) * 3 + 5);
    const source = tenancy.rls.migrationSource('TenantPolicies1712345678901');
    expect(source).toContain('export class TenantPolicies1712345678901 implements MigrationInterface');
    expect(source).toContain('await queryRunner.query("ALTER TABLE \\"posts\\" FORCE ROW LEVEL SECURITY");');
    expect(dataSource.isInitialized).toBe(false);
    // The DataSource is untouched: no metadata, and initialize() still tries (and fails) to connect.
    expect(dataSource.entityMetadatas).toEqual([]);
    await expect(dataSource.initialize()).rejects.toThrow(/ECONNREFUSED/);
  });

  it('builds no lazy-relation getters on the entity prototypes (new-made entities keep their DataSource)', () => {
    const before = Object.getOwnPropertyDescriptors(Comment.prototype);
    const tenancy = new Tenancy(new DataSource({ type: 'postgres', url: unreachable, entities: blogEntities }), { rowLevelSecurity: true });
    tenancy.rls.statements();
    expect(Object.getOwnPropertyDescriptors(Comment.prototype)).toEqual(before);
  });

  it('entity paths cannot be read offline: a TenancyConfigError that says to list the classes', () => {
    const tenancy = new Tenancy(new DataSource({ type: 'postgres', url: unreachable, entities: blogEntities }), { rowLevelSecurity: true });
    // Paths can only come in after the constructor (which refuses them up front, like initialize()).
    tenancy.dataSource.setOptions({ entities: [...blogEntities, 'dist/entities/*.js'] });
    expect(() => tenancy.rls.statements()).toThrow(TenancyConfigError);
    expect(() => tenancy.rls.statements()).toThrow(/List the entity classes/);
  });
});

describe.skipIf(!hasPostgres)('rls.migration() on an empty PostgreSQL database, after a migration:generate schema migration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'typeorm-tenancy-rls-migration-'));
  const dbs: TestDatabase[] = [];
  const opened: DataSource[] = [];
  let Schema: new () => MigrationInterface;

  const emptyDatabase = async () => {
    const db = await createTestDatabase('postgres');
    dbs.push(db);
    return db.options.type === 'postgres' ? db.options.url : '';
  };
  const policies = async (ds: DataSource) =>
    ((await ds.query(`SELECT tablename FROM pg_policies WHERE policyname = 'tenancy_isolation' ORDER BY tablename`)) as Array<{ tablename: string }>).map(
      (r) => r.tablename,
    );

  beforeAll(async () => {
    // TypeORM's CLI on the compiled data source module, against an empty database: the schema
    // migration a project generates when it adopts the library (tenant column, FK and index included).
    const generate = spawnSync(
      process.execPath,
      [join(root, 'node_modules', 'typeorm', 'cli.js'), 'migration:generate', '-d', join(root, 'test', 'fixtures', 'cli-data-source.cjs'), '-o', join(dir, 'Schema')],
      { cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, CLI_FIXTURE_PG_URL: await emptyDatabase(), CLI_FIXTURE_RLS: '1', CLI_FIXTURE_SYNCHRONIZE: '0' } },
    );
    expect(generate.status, generate.stdout + generate.stderr).toBe(0);
    const [file] = readdirSync(dir);
    Schema = require(join(dir, file!)) as new () => MigrationInterface;
  });
  afterAll(async () => {
    for (const ds of opened) if (ds.isInitialized) await ds.destroy();
    for (const db of dbs) await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runMigrations() creates the tables, then the policies (the default name sorts after every generated migration)', async () => {
    expect(Schema.name).toMatch(/^Schema\d{13}$/);
    const { dataSource, tenancy } = fixtureWorld(await emptyDatabase());
    opened.push(dataSource);
    // The README's pattern: the Tenancy needs the DataSource, so its migration is added after both exist.
    dataSource.setOptions({ migrations: [tenancy.rls.migration(), Schema] });
    await dataSource.initialize();
    const ran = await dataSource.runMigrations();
    expect(ran.map((m) => m.name)).toEqual([Schema.name, 'TenancyRowLevelSecurity9999999999999']);
    expect(await policies(dataSource)).toEqual(['notes', 'tenants']);
    // Exactly the statements the live metadata gives: nothing is missing (the superuser is the only problem).
    expect((await tenancy.rls.verify()).problems.map((p) => p.kind)).toEqual(['role-bypasses-rls']);
    // Reverting undoes the policies, then the tables.
    await dataSource.undoLastMigration();
    expect(await policies(dataSource)).toEqual([]);
    await dataSource.undoLastMigration();
    expect(await dataSource.query(`SELECT to_regclass('notes') AS t`)).toEqual([{ t: null }]);
  });

  it('the name the README once showed (…1700000000000) sorts before the schema and fails on an empty database', async () => {
    const { dataSource, tenancy } = fixtureWorld(await emptyDatabase());
    opened.push(dataSource);
    dataSource.setOptions({ migrations: [Schema, tenancy.rls.migration('TenancyRowLevelSecurity1700000000000')] });
    await dataSource.initialize();
    await expect(dataSource.runMigrations()).rejects.toThrow(/relation "notes" does not exist/);
  });
});
