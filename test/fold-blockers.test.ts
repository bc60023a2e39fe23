import 'reflect-metadata';
import { Column, DataSource, Entity, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tenancy, TenantEntity, TenantMismatchError, TenantScoped } from '../src/index.js';
import { databaseKinds, createTestDatabase, type TestDatabase } from './support/databases.js';
import { SqlLog } from './support/sql-log.js';

// A one-row insert checks its references inside the statement and relies on the tenant column
// staying NULL when a reference is not the tenant's. On PostgreSQL a BEFORE INSERT row trigger can
// fill that NULL in (`NEW.tenant_id := current_setting(...)` is a common pattern), and an INSERT rule
// can rewrite the statement: such a table must take the separate check, or another tenant's row
// would be referenced. The library asks the catalog once per table before its first folded insert.

@TenantEntity()
@Entity('fb_tenants')
class FbTenant {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
}

@TenantScoped()
@Entity('fb_projects')
class FbProject {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
  tenantId!: number;
}

/** Gets a trigger that fills in a NULL tenant column with tenant 1. */
@TenantScoped()
@Entity('fb_filled')
class FbFilled {
  @PrimaryGeneratedColumn() id!: number;
  @Column() title!: string;
  @ManyToOne(() => FbProject) @JoinColumn({ name: 'project_id' }) project!: FbProject;
  tenantId!: number;
}

/** The same trigger, disabled (it can be enabled at any time). */
@TenantScoped()
@Entity('fb_disabled')
class FbDisabled {
  @PrimaryGeneratedColumn() id!: number;
  @Column() title!: string;
  @ManyToOne(() => FbProject) @JoinColumn({ name: 'project_id' }) project!: FbProject;
  tenantId!: number;
}

/** An INSERT rule. */
@TenantScoped()
@Entity('fb_ruled')
class FbRuled {
  @PrimaryGeneratedColumn() id!: number;
  @Column() title!: string;
  @ManyToOne(() => FbProject) @JoinColumn({ name: 'project_id' }) project!: FbProject;
  tenantId!: number;
}

/** A partitioned table (by tenant): the trigger sits on the partition the row is routed to. */
@TenantScoped()
@Entity('fb_parted')
class FbParted {
  @PrimaryGeneratedColumn() id!: number;
  @Column() title!: string;
  @ManyToOne(() => FbProject) @JoinColumn({ name: 'project_id' }) project!: FbProject;
  tenantId!: number;
}

/** A view in the table's place, whose INSTEAD OF trigger writes the base table. */
@TenantScoped()
@Entity('fb_viewed')
class FbViewed {
  @PrimaryGeneratedColumn() id!: number;
  @Column() title!: string;
  @ManyToOne(() => FbProject) @JoinColumn({ name: 'project_id' }) project!: FbProject;
  tenantId!: number;
}

/** Nothing of the kind: folds. */
@TenantScoped()
@Entity('fb_plain')
class FbPlain {
  @PrimaryGeneratedColumn() id!: number;
  @Column() title!: string;
  @ManyToOne(() => FbProject) @JoinColumn({ name: 'project_id' }) project!: FbProject;
  tenantId!: number;
}

const entities = [FbTenant, FbProject, FbFilled, FbDisabled, FbRuled, FbParted, FbViewed, FbPlain];
type Target = typeof FbFilled | typeof FbDisabled | typeof FbRuled | typeof FbParted | typeof FbViewed | typeof FbPlain;

describe.skipIf(!databaseKinds().includes('postgres'))('a table whose tenant column a trigger or rule could fill in (postgres)', () => {
  let db: TestDatabase;
  let setup: DataSource;
  let ds: DataSource;
  let tenancy: Tenancy;
  const log = new SqlLog();
  let t1: number;
  let own: number;
  let theirs: number;
  const q = (name: string) => `"${name}"`;
  const count = async (table: string) => Number(((await setup.query(`SELECT COUNT(*) AS n FROM ${q(table)}`)) as Array<{ n: string }>)[0]!.n);

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    // The schema and the triggers come first, from a DataSource of their own: the Tenancy under test starts after them.
    setup = new DataSource({ ...db.options, entities, synchronize: true } as never);
    new Tenancy(setup, { defaultManager: 'unscoped' });
    await setup.initialize();
    const [a, b] = await setup.manager.save(FbTenant, [{ name: 'a' }, { name: 'b' }]);
    t1 = a!.id;
    own = (await setup.query(`INSERT INTO fb_projects (name, tenant_id) VALUES ('own', ${t1}) RETURNING id`))[0].id;
    theirs = (await setup.query(`INSERT INTO fb_projects (name, tenant_id) VALUES ('theirs', ${b!.id}) RETURNING id`))[0].id;
    await setup.query(`CREATE FUNCTION fb_fill_tenant() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.tenant_id IS NULL THEN NEW.tenant_id := ${t1}; END IF; RETURN NEW; END $$`);
    await setup.query('CREATE TRIGGER fb_fill BEFORE INSERT ON fb_filled FOR EACH ROW EXECUTE FUNCTION fb_fill_tenant()');
    await setup.query('CREATE TRIGGER fb_fill BEFORE INSERT ON fb_disabled FOR EACH ROW EXECUTE FUNCTION fb_fill_tenant()');
    await setup.query('ALTER TABLE fb_disabled DISABLE TRIGGER fb_fill');
    await setup.query('CREATE RULE fb_notify AS ON INSERT TO fb_ruled DO ALSO NOTIFY fb_ruled_changed');
    // fb_parted becomes a table partitioned by tenant, with a default partition that fills in the tenant.
    await setup.query('DROP TABLE fb_parted');
    await setup.query(
      'CREATE TABLE fb_parted (id serial, title varchar NOT NULL, project_id integer NOT NULL REFERENCES fb_projects (id), ' +
        'tenant_id integer NOT NULL REFERENCES fb_tenants (id), PRIMARY KEY (id, tenant_id)) PARTITION BY LIST (tenant_id)',
    );
    await setup.query('CREATE TABLE fb_parted_rest PARTITION OF fb_parted DEFAULT');
    await setup.query('CREATE TRIGGER fb_fill BEFORE INSERT ON fb_parted_rest FOR EACH ROW EXECUTE FUNCTION fb_fill_tenant()');
    // fb_viewed becomes a view over a table of the same shape; its INSTEAD OF trigger fills in the tenant.
    await setup.query('ALTER TABLE fb_viewed RENAME TO fb_viewed_base');
    await setup.query('CREATE VIEW fb_viewed AS SELECT * FROM fb_viewed_base');
    await setup.query(
      `CREATE FUNCTION fb_view_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO fb_viewed_base (title, project_id, tenant_id) ` +
        `VALUES (NEW.title, NEW.project_id, coalesce(NEW.tenant_id, ${t1})) RETURNING id INTO NEW.id; RETURN NEW; END $$`,
    );
    await setup.query('CREATE TRIGGER fb_view_insert INSTEAD OF INSERT ON fb_viewed FOR EACH ROW EXECUTE FUNCTION fb_view_insert()');

    ds = new DataSource({ ...db.options, entities, logger: log, logging: true } as never);
    tenancy = new Tenancy(ds, { defaultManager: 'unscoped' });
    await ds.initialize();
  });
  afterAll(async () => {
    await ds?.destroy();
    await setup?.destroy();
    await db?.drop();
  });

  const writes: Array<[string, (target: Target, project: number) => Promise<unknown>]> = [
    ['insert', (target, project) => tenancy.manager(t1).insert(target, { title: 'x', project: { id: project } } as never)],
    ['save', (target, project) => tenancy.manager(t1).save(target, { title: 'x', project: { id: project } } as never)],
    ['query builder', (target, project) => tenancy.manager(t1).createQueryBuilder().insert().into(target).values({ title: 'x', project: { id: project } } as never).execute()],
  ];

  for (const [table, target, what] of [
    ['fb_filled', FbFilled, 'a BEFORE INSERT trigger that fills in a NULL tenant column'],
    ['fb_disabled', FbDisabled, 'the same trigger, disabled'],
    ['fb_ruled', FbRuled, 'an INSERT rule'],
    ['fb_parted', FbParted, 'a trigger on the partition the row is routed to'],
    ['fb_viewed', FbViewed, 'a view whose INSTEAD OF trigger fills in the tenant'],
  ] as const) {
    it(`${what}: another tenant's project is refused on every write path, nothing written; the table takes the separate check`, async () => {
      for (const [name, write] of writes) {
        const before = await count(table);
        log.clear();
        const error = await write(target, theirs).then(() => undefined, (e: unknown) => e);
        expect(error, name).toBeInstanceOf(TenantMismatchError);
        expect(await count(table), name).toBe(before);
        expect(log.matching(/^\s*INSERT\b[\s\S]*tenancy_ref_0/i), name).toEqual([]);

        log.clear();
        await write(target, own);
        expect(await count(table), name).toBe(before + 1);
        expect(log.matching(/tenancy_refs_/), name).toHaveLength(1);
        expect(log.matching(/^\s*INSERT\b[\s\S]*tenancy_ref_0/i), name).toEqual([]);
      }
      // The trigger really fills the column in: without the check, the row would have been written.
      if (target !== FbDisabled && target !== FbRuled) {
        await setup.query(`INSERT INTO ${table} (title, project_id, tenant_id) VALUES ('raw', ${theirs}, NULL)`);
        expect(Number((await setup.query(`SELECT tenant_id FROM ${table} WHERE title = 'raw'`))[0].tenant_id)).toBe(t1);
        await setup.query(`DELETE FROM ${table === 'fb_viewed' ? 'fb_viewed_base' : table} WHERE title = 'raw'`);
      }
    });
  }

  it("tenancy.verify() reports each of them as 'tenant-trigger', and not the plain table", async () => {
    const report = await tenancy.verify();
    expect(report.problems.map((p) => [p.kind, p.subject])).toEqual([
      ['tenant-trigger', 'fb_disabled(fb_fill)'],
      ['tenant-trigger', 'fb_filled(fb_fill)'],
      ['tenant-trigger', 'fb_parted(fb_fill on fb_parted_rest)'],
      ['tenant-trigger', 'fb_ruled(fb_notify)'],
      ['tenant-trigger', 'fb_viewed(relkind v)'],
    ]);
    expect(report.problems.at(-1)!.message).toMatch(/not an ordinary table \(relkind v/);
  });

  it('a table with none of these folds its check into the INSERT, after one catalog question for the table', async () => {
    log.clear();
    await tenancy.manager(t1).insert(FbPlain, { title: 'first', project: { id: own } } as never);
    expect(log.matching(/pg_catalog\.pg_trigger/)).toHaveLength(1);
    expect(log.matching(/^\s*INSERT\b[\s\S]*tenancy_ref_0/i)).toHaveLength(1);
    for (const [name, write] of writes) {
      log.clear();
      await expect(write(FbPlain, theirs), name).rejects.toBeInstanceOf(TenantMismatchError);
      await write(FbPlain, own);
      expect(log.matching(/pg_catalog\.pg_trigger/), name).toEqual([]);
      expect(log.matching(/tenancy_refs_/), name).toEqual([]);
      expect(log.matching(/^\s*INSERT\b[\s\S]*tenancy_ref_0/i), name).toHaveLength(2);
    }
    expect(await count('fb_plain')).toBe(1 + writes.length);
  });

  it("the catalog question inside the caller's transaction (first insert there) leaves it usable", async () => {
    // A fresh Tenancy: nothing is known about the tables yet.
    const fresh = new DataSource({ ...db.options, entities, logger: log, logging: true } as never);
    const freshTenancy = new Tenancy(fresh, { defaultManager: 'unscoped' });
    await fresh.initialize();
    try {
      const before = await count('fb_filled');
      await freshTenancy.manager(t1).transaction(async (tx) => {
        // save() in the caller's transaction: no fold there (checked first), so no question either; the refusal leaves it usable.
        await expect(tx.save(FbFilled, { title: 'tx', project: { id: theirs } } as never)).rejects.toBeInstanceOf(TenantMismatchError);
        await tx.save(FbFilled, { title: 'tx', project: { id: own } } as never);
      });
      expect(await count('fb_filled')).toBe(before + 1);
      // save()'s own transaction: the question runs in a savepoint of it, then the check refuses.
      log.clear();
      await expect(freshTenancy.manager(t1).save(FbRuled, { title: 'y', project: { id: theirs } } as never)).rejects.toBeInstanceOf(TenantMismatchError);
      expect(log.matching(/pg_catalog\.pg_trigger/)).toHaveLength(1);
      expect(log.matching(/SAVEPOINT tenancy_fold_catalog/)).toHaveLength(2);
      // Outside a transaction the first insert asks (on its own connection, before it takes one) and is refused by the check.
      log.clear();
      await expect(freshTenancy.manager(t1).insert(FbFilled, { title: 'y', project: { id: theirs } } as never)).rejects.toBeInstanceOf(TenantMismatchError);
      expect(log.matching(/pg_catalog\.pg_trigger/)).toHaveLength(1);
      expect(await count('fb_filled')).toBe(before + 1);
    } finally {
      await fresh.destroy();
    }
  });
});
