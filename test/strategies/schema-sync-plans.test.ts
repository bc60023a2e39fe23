import 'reflect-metadata';
import { Column, DataSource, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tenancy, TenantEntity, TenantScoped } from '../../src/index.js';
import { replayable } from '../../src/strategies/schema-sync-plans.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/databases.js';
import { SqlLog } from '../support/sql-log.js';

const hasPostgres = databaseKinds().includes('postgres');

/** Classes of their own per call: the "after" DataSource has one more column in notes. */
function defineEntities(withSummary: boolean) {
  @TenantEntity()
  @Entity('sp_tenants')
  class Tenant {
    @PrimaryGeneratedColumn() id!: number;
    @Column({ type: 'varchar' }) name!: string;
  }
  @TenantScoped()
  @Entity('sp_notes')
  class Note {
    @PrimaryGeneratedColumn() id!: number;
    @Column({ type: 'varchar' }) body!: string;
    @Column({ type: 'integer', default: 0 }) views!: number;
    summary?: string | null;
  }
  if (withSummary) Column({ type: 'text', nullable: true })(Note.prototype, 'summary');
  return { Tenant, Note, entities: [Tenant, Note] };
}

// TypeORM reading a schema's tables: the information_schema scan whose cost grows with the catalog.
const loadsTables = /AS table_comment FROM "information_schema"\."tables"/;

describe('replayable', () => {
  it('takes the schema off table names, and refuses a plan that still names the schema', () => {
    expect(replayable(['ALTER TABLE "tenant_1"."sp_notes" ADD "summary" text'], 'tenant_1')).toEqual(['ALTER TABLE "sp_notes" ADD "summary" text']);
    expect(replayable(['CREATE TABLE "sp_notes" ("id" SERIAL NOT NULL)'], 'tenant_1')).toEqual(['CREATE TABLE "sp_notes" ("id" SERIAL NOT NULL)']);
    expect(replayable([`COMMENT ON COLUMN "tenant_1"."sp_notes"."body" IS 'see tenant_1'`], 'tenant_1')).toBeUndefined();
    expect(replayable(['CREATE INDEX "IDX_tenant_1" ON "sp_notes" ("body")'], 'tenant_1')).toBeUndefined();
  });
});

describe.skipIf(!hasPostgres)("strategy 'schema': migrateAll plans once per schema state (PostgreSQL)", () => {
  let db: TestDatabase;
  let before: DataSource;
  let tenancy: Tenancy;
  const v1 = defineEntities(false);
  const v2 = defineEntities(true);
  const ids: number[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    before = new DataSource({ ...db.options, entities: v1.entities, synchronize: true, extra: { max: 4 } } as never);
    tenancy = new Tenancy(before, { strategy: 'schema' });
    await before.initialize();
    // Six tenants, each in a transaction of its own, each with one note of its own.
    for (let i = 1; i <= 6; i++) {
      const tenant = (await tenancy.tenants.create({ name: `t${i}` })) as { id: number };
      ids.push(tenant.id);
      await tenancy.manager(tenant).insert(v1.Note, { body: `note of ${tenant.id}` });
    }
  });
  afterAll(async () => {
    await before?.destroy();
    await db?.drop();
  });

  const columnsOf = async (tenantId: number) =>
    (
      (await before.query(
        `SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relname = 'sp_notes' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attname`,
        [`tenant_${tenantId}`],
      )) as Array<{ attname: string }>
    ).map((r) => r.attname);

  it('tenant schemas get no foreign key to the tenant table (no triggers piling up on it); remove() still drops the schema with the row', async () => {
    const fks = (await before.query(
      `SELECT n.nspname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE k.confrelid = 'public.sp_tenants'::regclass ORDER BY 1`,
    )) as Array<{ nspname: string }>;
    expect(fks.map((r) => r.nspname)).toEqual(['public']); // the default schema's empty sp_notes only
    const extra = (await tenancy.tenants.create({ name: 'short-lived' })) as { id: number };
    await tenancy.manager(extra).insert(v1.Note, { body: 'short' });
    await tenancy.tenants.remove(extra);
    expect(await before.query(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1`, [`tenant_${extra.id}`])).toEqual([{ n: 0 }]);
    expect(await before.query(`SELECT count(*)::int AS n FROM sp_tenants WHERE id = $1`, [extra.id])).toEqual([{ n: 0 }]);
  });

  it('with nothing to change, reads the tables through information_schema once, not once per schema', async () => {
    const log = new SqlLog();
    const check = new DataSource({ ...db.options, entities: defineEntities(false).entities, logger: log, logging: true } as never);
    const checking = new Tenancy(check, { strategy: 'schema' });
    await check.initialize();
    try {
      const summary = await checking.migrateAll({ concurrency: 3 });
      expect(summary.failed).toEqual([]);
      expect(summary.succeeded.sort()).toEqual([...ids].sort());
      expect(log.matching(loadsTables)).toHaveLength(1);
      expect(log.matching(/^\s*(ALTER|CREATE|DROP)\b/i)).toEqual([]);
    } finally {
      await check.destroy();
    }
  });

  it('a new column reaches every schema, each in its own schema; a schema in another state is planned apart', async () => {
    // Tenant 3's schema drifted: its views column was dropped by hand.
    const drifted = ids[2]!;
    await before.query(`ALTER TABLE "tenant_${drifted}"."sp_notes" DROP COLUMN "views"`);
    // ... and has the foreign key to the tenant table that schemas created by earlier versions have.
    await before.query(`ALTER TABLE "tenant_${drifted}"."sp_notes" ADD CONSTRAINT "FK_old_tenant" FOREIGN KEY ("tenant_id") REFERENCES "sp_tenants"("id")`);
    const log = new SqlLog();
    const after = new DataSource({ ...db.options, entities: v2.entities, logger: log, logging: true } as never);
    const migrating = new Tenancy(after, { strategy: 'schema' });
    await after.initialize();
    try {
      const progress: number[] = [];
      const summary = await migrating.migrateAll({ concurrency: 4, onProgress: ({ done }) => progress.push(done) });
      expect(summary.failed).toEqual([]);
      expect(progress.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
      // Two states (five schemas alike, one drifted): TypeORM planned twice, not six times.
      expect(log.matching(loadsTables)).toHaveLength(2);
      for (const id of ids) expect(await columnsOf(id)).toEqual(['body', 'id', 'summary', 'tenant_id', 'views']);
      expect(await before.query(`SELECT count(*)::int AS n FROM pg_constraint WHERE conname = 'FK_old_tenant'`)).toEqual([{ n: 0 }]);
      // The shared table of the default schema was not touched by the replayed plans.
      expect(await before.query(`SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = 'public.sp_notes'::regclass AND attname = 'summary'`)).toEqual([
        { n: 0 },
      ]);
      // Each tenant still reads its own note only, and writes the new column into its own schema.
      for (const id of ids) {
        const em = migrating.manager(id);
        await em.update(v2.Note, { body: `note of ${id}` }, { summary: `summary of ${id}` });
        const notes = await em.find(v2.Note);
        expect(notes.map((n) => [n.body, n.summary])).toEqual([[`note of ${id}`, `summary of ${id}`]]);
        const other = ids.find((x) => x !== id)!;
        expect(await em.findOneBy(v2.Note, { body: `note of ${other}` })).toBeNull();
      }
      // A second run finds every schema up to date in one plan.
      log.clear();
      expect((await migrating.migrateAll()).failed).toEqual([]);
      expect(log.matching(loadsTables)).toHaveLength(1);
      expect(log.matching(/^\s*(ALTER|CREATE|DROP)\b/i)).toEqual([]);
    } finally {
      await after.destroy();
    }
  });

  it('a schema whose column has another type is planned apart and fixed; the others replay the empty plan', async () => {
    const log = new SqlLog();
    const broken = ids[4]!;
    await before.query(`ALTER TABLE "tenant_${broken}"."sp_notes" DROP COLUMN "summary"`);
    await before.query(`ALTER TABLE "tenant_${broken}"."sp_notes" ADD COLUMN "summary" integer`);
    await before.query(`UPDATE "tenant_${broken}"."sp_notes" SET "summary" = 7`);
    const after = new DataSource({ ...db.options, entities: defineEntities(true).entities, logger: log, logging: true } as never);
    const migrating = new Tenancy(after, { strategy: 'schema' });
    await after.initialize();
    try {
      const summary = await migrating.migrateAll();
      expect(summary.failed).toEqual([]);
      // TypeORM changes the column's type in that schema only (drop and add), planned for it alone.
      expect(log.matching(loadsTables)).toHaveLength(2);
      const [row] = (await before.query(`SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'summary'`, [
        `"tenant_${broken}"."sp_notes"`,
      ])) as Array<{ type: string }>;
      expect(row?.type).toBe('text');
    } finally {
      await after.destroy();
    }
  });
});
