import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Column, DataSource, Entity, type MigrationInterface, PrimaryGeneratedColumn, type QueryRunner } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tenancy, TenantEntity, TenantScoped } from '../../src/index.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/databases.js';

// Tenant tables built and evolved by migrations instead of synchronize: schema per tenant
// (schema.tenantMigrations, run in each tenant schema) and database per tenant (the tenant
// DataSource's own migrations).

@TenantEntity()
@Entity('accounts')
class Account {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
}

@TenantScoped()
@Entity('notes')
class Note {
  @PrimaryGeneratedColumn() id!: number;
  @Column() text!: string;
  tenantId!: number;
}

const entities = [Account, Note];

class CreateNotes1700000000000 implements MigrationInterface {
  name = 'CreateNotes1700000000000';
  async up(runner: QueryRunner): Promise<void> {
    const serial = runner.connection.options.type === 'postgres' ? 'SERIAL PRIMARY KEY' : 'INTEGER PRIMARY KEY AUTOINCREMENT';
    await runner.query(
      `CREATE TABLE "notes" ("id" ${serial}, "text" varchar NOT NULL, "tenant_id" integer NOT NULL REFERENCES "accounts" ("id") ON DELETE CASCADE)`,
    );
    await runner.query(`CREATE INDEX "notes_tenant" ON "notes" ("tenant_id", "id")`);
  }
  async down(runner: QueryRunner): Promise<void> {
    await runner.query(`DROP TABLE "notes"`);
  }
}

/** A tenant database holds the whole schema: its migrations create the tenant table too. */
class CreateAccounts1699999999999 implements MigrationInterface {
  name = 'CreateAccounts1699999999999';
  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`CREATE TABLE "accounts" ("id" INTEGER PRIMARY KEY AUTOINCREMENT, "name" varchar NOT NULL)`);
  }
  async down(runner: QueryRunner): Promise<void> {
    await runner.query(`DROP TABLE "accounts"`);
  }
}

class AddPinned1700000000001 implements MigrationInterface {
  name = 'AddPinned1700000000001';
  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`ALTER TABLE "notes" ADD "pinned" boolean NOT NULL DEFAULT false`);
  }
  async down(runner: QueryRunner): Promise<void> {
    await runner.query(`ALTER TABLE "notes" DROP COLUMN "pinned"`);
  }
}

/** Fails in one tenant's schema after a first statement: that tenant's migration must roll back alone. */
const failingIn = (schema: string) =>
  class AddArchived1700000000002 implements MigrationInterface {
    name = 'AddArchived1700000000002';
    async up(runner: QueryRunner): Promise<void> {
      await runner.query(`ALTER TABLE "notes" ADD "archived" boolean NOT NULL DEFAULT false`);
      const [{ current }] = (await runner.query('SELECT current_schema() AS current')) as Array<{ current: string }>;
      if (current === schema) throw new Error(`migration refused in ${schema}`);
    }
    async down(): Promise<void> {}
  };

describe.skipIf(!databaseKinds().includes('postgres'))("strategy 'schema' with tenant migrations (PostgreSQL)", () => {
  let db: TestDatabase;
  let ds: DataSource;
  let tenancy: Tenancy;
  const tenantMigrations: Array<new () => MigrationInterface> = [CreateNotes1700000000000];

  const columnsOf = async (schema: string) =>
    ((await ds.query(`SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'notes' ORDER BY column_name`, [schema])) as Array<{ column_name: string }>).map(
      (r) => r.column_name,
    );
  const applied = async (schema: string) =>
    ((await ds.query(`SELECT name FROM "${schema}".migrations ORDER BY id`)) as Array<{ name: string }>).map((r) => r.name);

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    // The shared table from synchronize; the tenant tables only from the tenant migrations.
    ds = new DataSource({ ...db.options, entities, synchronize: true } as never);
    tenancy = new Tenancy(ds, { strategy: 'schema', defaultManager: 'unscoped', schema: { tenantMigrations } });
    await ds.initialize();
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('create runs the tenant migrations in the new schema; migrateAll applies a new one to every tenant and isolates a failure', async () => {
    const [a, b] = [(await tenancy.tenants.create({ name: 'a' })) as Account, (await tenancy.tenants.create({ name: 'b' })) as Account];
    expect(await columnsOf(`tenant_${a.id}`)).toEqual(['id', 'tenant_id', 'text']);
    expect(await applied(`tenant_${b.id}`)).toEqual(['CreateNotes1700000000000']);
    await tenancy.manager(a).save(Note, { text: 'a-note' });
    expect((await tenancy.manager(b).find(Note)).length).toBe(0);

    tenantMigrations.push(AddPinned1700000000001);
    const progress: string[] = [];
    const summary = await tenancy.migrateAll({ concurrency: 2, onProgress: (p) => progress.push(`${p.done}/${p.total}`) });
    expect([summary.succeeded.sort(), summary.failed]).toEqual([[a.id, b.id].sort(), []]);
    expect(progress.at(-1)).toBe('2/2');
    for (const t of [a, b]) {
      expect(await columnsOf(`tenant_${t.id}`)).toEqual(['id', 'pinned', 'tenant_id', 'text']);
      expect(await applied(`tenant_${t.id}`)).toEqual(['CreateNotes1700000000000', 'AddPinned1700000000001']);
    }
    // A tenant created now gets every migration.
    const c = (await tenancy.tenants.create({ name: 'c' })) as Account;
    expect(await applied(`tenant_${c.id}`)).toEqual(['CreateNotes1700000000000', 'AddPinned1700000000001']);

    tenantMigrations.push(failingIn(`tenant_${b.id}`));
    const third = await tenancy.migrateAll();
    expect(third.failed.map((f) => f.tenant)).toEqual([b.id]);
    expect(third.succeeded.sort()).toEqual([a.id, c.id].sort());
    expect(await columnsOf(`tenant_${b.id}`)).not.toContain('archived'); // rolled back, first statement included
    expect(await applied(`tenant_${b.id}`)).toEqual(['CreateNotes1700000000000', 'AddPinned1700000000001']);
    expect(await columnsOf(`tenant_${a.id}`)).toContain('archived');
    expect((await tenancy.manager(a).find(Note)).map((n) => n.text)).toEqual(['a-note']);
  });
});

describe("strategy 'database' with migrations (SQLite files)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'tenancy-migrations-'));
  const migrations: Array<new () => MigrationInterface> = [CreateAccounts1699999999999, CreateNotes1700000000000];
  let main: DataSource;
  let tenancy: Tenancy;

  beforeAll(async () => {
    main = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities, synchronize: true });
    tenancy = new Tenancy(main, {
      strategy: 'database',
      defaultManager: 'unscoped',
      // No synchronize: tenants.create runs the tenant database's migrations, migrateAll the new ones.
      database: { dataSourceOptions: (t) => ({ type: 'better-sqlite3', database: join(dir, `${t}.sqlite`), migrations: [...migrations] }) },
    });
    await main.initialize();
  });
  afterAll(async () => {
    await tenancy?.destroy();
    await main?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('create builds the tenant database by its migrations; migrateAll applies new ones to every tenant database', async () => {
    const tenants = [(await tenancy.tenants.create({ name: 'a' })) as Account, (await tenancy.tenants.create({ name: 'b' })) as Account];
    await tenancy.manager(tenants[0]).save(Note, { text: 'a-note' });
    expect(await tenancy.manager(tenants[1]).count(Note)).toBe(0);
    migrations.push(AddPinned1700000000001);
    await tenancy.destroy(); // open DataSources keep the migration list they were made with
    const summary = await tenancy.migrateAll();
    expect(summary.succeeded.sort()).toEqual(tenants.map((t) => t.id).sort());
    for (const t of tenants) {
      const file = new DataSource({ type: 'better-sqlite3', database: join(dir, `${t.id}.sqlite`) });
      await file.initialize();
      const columns = ((await file.query(`SELECT name FROM pragma_table_info('notes') ORDER BY name`)) as Array<{ name: string }>).map((r) => r.name);
      const done = ((await file.query('SELECT name FROM migrations ORDER BY id')) as Array<{ name: string }>).map((r) => r.name);
      await file.destroy();
      expect([columns, done]).toEqual([['id', 'pinned', 'tenant_id', 'text'], ['CreateAccounts1699999999999', 'CreateNotes1700000000000', 'AddPinned1700000000001']]);
    }
    expect((await tenancy.manager(tenants[0]).find(Note)).map((n) => n.text)).toEqual(['a-note']);
  });
});
