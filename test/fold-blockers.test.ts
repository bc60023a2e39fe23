import 'reflect-metadata';
import { Column, DataSource, Entity, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tenancy, TenantEntity, TenantMismatchError, TenantScoped } from '../src/index.js';
import { databaseKinds, createTestDatabase, type DatabaseKind, type TestDatabase } from './support/databases.js';
import { itWhen } from './support/it-when.js';
import { SqlLog } from './support/sql-log.js';

// A one-row insert checks its references inside the statement and relies on the database refusing
// a row whose tenant column came out NULL. Whatever could let that row through must make the table
// take the separate check, or another tenant's row would be referenced: on PostgreSQL a BEFORE INSERT
// row trigger that fills the NULL in (`NEW.tenant_id := current_setting(...)` is a common pattern),
// on the table or on the partition a row is routed to, an INSERT rule, a view in the table's place;
// on SQLite a trigger that inserts a row of its own and RAISE(IGNORE)s the original, a view, an ON
// CONFLICT clause that replaces or silently drops a row whose tenant column is NULL; on both a
// tenant column the database lets be NULL. The library asks once per table before its first folded insert.

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

/** Every table under test has this shape: a title and a project (each class its own table). */
abstract class FbRow {
  @PrimaryGeneratedColumn() id!: number;
  @Column() title!: string;
  @ManyToOne(() => FbProject) @JoinColumn({ name: 'project_id' }) project!: FbProject;
  tenantId!: number;
}

/** Gets a trigger that fills in a NULL tenant column with tenant 1. */
@TenantScoped()
@Entity('fb_filled')
class FbFilled extends FbRow {}

/** The same trigger, disabled (it can be enabled at any time). */
@TenantScoped()
@Entity('fb_disabled')
class FbDisabled extends FbRow {}

/** An INSERT rule. */
@TenantScoped()
@Entity('fb_ruled')
class FbRuled extends FbRow {}

/** A partitioned table (by tenant): the trigger sits on the partition the row is routed to. */
@TenantScoped()
@Entity('fb_parted')
class FbParted extends FbRow {}

/** A view in the table's place, whose INSTEAD OF trigger writes the base table. */
@TenantScoped()
@Entity('fb_viewed')
class FbViewed extends FbRow {}

/** Its tenant column is nullable in the database (a schema behind the entities). */
@TenantScoped()
@Entity('fb_nullable')
class FbNullable extends FbRow {}

/** SQLite: its tenant column is NOT NULL ON CONFLICT REPLACE with a default. */
@TenantScoped()
@Entity('fb_defaulted')
class FbDefaulted extends FbRow {}

/** SQLite: its tenant column is NOT NULL ON CONFLICT IGNORE: a NULL drops the row without an error. */
@TenantScoped()
@Entity('fb_ignored')
class FbIgnored extends FbRow {}

/** Nothing of the kind: folds. */
@TenantScoped()
@Entity('fb_plain')
class FbPlain extends FbRow {}

const entities = [FbTenant, FbProject, FbFilled, FbDisabled, FbRuled, FbParted, FbViewed, FbNullable, FbDefaulted, FbIgnored, FbPlain];
type Target = (typeof entities)[number];

const OWN = 1;
const THEIRS = 2;

/** The blockers each database gets, made after synchronize (which knows none of them). */
async function addBlockers(kind: DatabaseKind, query: (sql: string) => Promise<unknown>, t1: number): Promise<void> {
  if (kind === 'postgres') {
    await query(`CREATE FUNCTION fb_fill_tenant() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.tenant_id IS NULL THEN NEW.tenant_id := ${t1}; END IF; RETURN NEW; END $$`);
    await query('CREATE TRIGGER fb_fill BEFORE INSERT ON fb_filled FOR EACH ROW EXECUTE FUNCTION fb_fill_tenant()');
    await query('CREATE TRIGGER fb_fill BEFORE INSERT ON fb_disabled FOR EACH ROW EXECUTE FUNCTION fb_fill_tenant()');
    await query('ALTER TABLE fb_disabled DISABLE TRIGGER fb_fill');
    await query('CREATE RULE fb_notify AS ON INSERT TO fb_ruled DO ALSO NOTIFY fb_ruled_changed');
    // fb_parted becomes a table partitioned by tenant, with a default partition that fills in the tenant.
    await query('DROP TABLE fb_parted');
    await query(
      'CREATE TABLE fb_parted (id serial, title varchar NOT NULL, project_id integer NOT NULL REFERENCES fb_projects (id), ' +
        'tenant_id integer NOT NULL REFERENCES fb_tenants (id), PRIMARY KEY (id, tenant_id)) PARTITION BY LIST (tenant_id)',
    );
    await query('CREATE TABLE fb_parted_rest PARTITION OF fb_parted DEFAULT');
    await query('CREATE TRIGGER fb_fill BEFORE INSERT ON fb_parted_rest FOR EACH ROW EXECUTE FUNCTION fb_fill_tenant()');
    // fb_viewed becomes a view over a table of the same shape; its INSTEAD OF trigger fills in the tenant.
    await query('ALTER TABLE fb_viewed RENAME TO fb_viewed_base');
    await query('CREATE VIEW fb_viewed AS SELECT * FROM fb_viewed_base');
    await query(
      `CREATE FUNCTION fb_view_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO fb_viewed_base (title, project_id, tenant_id) ` +
        `VALUES (NEW.title, NEW.project_id, coalesce(NEW.tenant_id, ${t1})) RETURNING id INTO NEW.id; RETURN NEW; END $$`,
    );
    await query('CREATE TRIGGER fb_view_insert INSTEAD OF INSERT ON fb_viewed FOR EACH ROW EXECUTE FUNCTION fb_view_insert()');
    await query('ALTER TABLE fb_nullable ALTER COLUMN tenant_id DROP NOT NULL');
    return;
  }
  // SQLite: a BEFORE trigger cannot change NEW, but it can write the row itself and drop the original.
  await query(
    'CREATE TRIGGER fb_fill BEFORE INSERT ON fb_filled WHEN NEW.tenant_id IS NULL BEGIN ' +
      `INSERT INTO fb_filled (title, project_id, tenant_id) VALUES (NEW.title, NEW.project_id, ${t1}); SELECT RAISE(IGNORE); END`,
  );
  await query('ALTER TABLE fb_viewed RENAME TO fb_viewed_base');
  await query('CREATE VIEW fb_viewed AS SELECT * FROM fb_viewed_base');
  await query(
    'CREATE TRIGGER fb_view_insert INSTEAD OF INSERT ON fb_viewed BEGIN ' +
      `INSERT INTO fb_viewed_base (title, project_id, tenant_id) VALUES (NEW.title, NEW.project_id, coalesce(NEW.tenant_id, ${t1})); END`,
  );
  // A default the column-level ON CONFLICT REPLACE puts in place of a NULL: the row is written with it.
  await query('DROP TABLE fb_defaulted');
  await query(
    'CREATE TABLE fb_defaulted (id integer PRIMARY KEY AUTOINCREMENT NOT NULL, title varchar NOT NULL, project_id integer NOT NULL REFERENCES fb_projects (id), ' +
      `tenant_id integer NOT NULL ON CONFLICT REPLACE DEFAULT ${t1} REFERENCES fb_tenants (id))`,
  );
  // NOT NULL whose conflict clause drops the row: the insert "succeeds", writes nothing, and TypeORM
  // reads the connection's last insert id (another row's) back as the new row's. Spelled with a
  // comment and a line break inside the clause, as a hand-written schema may be.
  await query('DROP TABLE fb_ignored');
  await query(
    'CREATE TABLE fb_ignored (id integer PRIMARY KEY AUTOINCREMENT NOT NULL, title varchar NOT NULL, project_id integer NOT NULL REFERENCES fb_projects (id), ' +
      'tenant_id integer NOT NULL on /* drop it */\n  conflict IGNORE REFERENCES fb_tenants (id))',
  );
  const [{ sql }] = (await query("SELECT sql FROM sqlite_master WHERE name = 'fb_nullable'")) as Array<{ sql: string }>;
  const nullable = sql.replace('"tenant_id" integer NOT NULL', '"tenant_id" integer');
  if (nullable === sql) throw new Error(`fb_nullable: no NOT NULL tenant column to drop in ${sql}`);
  await query('DROP TABLE fb_nullable');
  await query(nullable);
}

/**
 * Per database: the tables that take the separate check, what lets the row through, and what a raw
 * NULL insert leaves in the tenant column (`'dropped'`: no row, and no error either).
 */
type RawNull = number | null | 'dropped' | undefined;
function blockedTables(kind: DatabaseKind, t1: number): Array<[string, string, Target, RawNull]> {
  const common: Array<[string, string, Target, RawNull]> = [
    ['fb_viewed', 'a view whose INSTEAD OF trigger fills in the tenant', FbViewed, t1],
    ['fb_nullable', 'a tenant column the database lets be NULL', FbNullable, null],
  ];
  if (kind === 'sqlite') {
    return [
      ['fb_filled', 'a BEFORE INSERT trigger that writes the row itself with a tenant and drops the original', FbFilled, t1],
      ['fb_defaulted', 'a tenant column whose ON CONFLICT REPLACE puts its default in place of a NULL', FbDefaulted, t1],
      ['fb_ignored', 'a tenant column whose ON CONFLICT IGNORE drops the row without an error', FbIgnored, 'dropped'],
      ...common,
    ];
  }
  return [
    ['fb_filled', 'a BEFORE INSERT trigger that fills in a NULL tenant column', FbFilled, t1],
    ['fb_disabled', 'the same trigger, disabled', FbDisabled, undefined],
    ['fb_ruled', 'an INSERT rule', FbRuled, undefined],
    ['fb_parted', 'a trigger on the partition the row is routed to', FbParted, t1],
    ...common,
  ];
}

const verifyReport: Record<DatabaseKind, Array<[string, string]>> = {
  postgres: [
    ['tenant-trigger', 'fb_disabled(fb_fill)'],
    ['tenant-trigger', 'fb_filled(fb_fill)'],
    ['tenant-nullable', 'fb_nullable(tenant_id)'],
    ['tenant-trigger', 'fb_parted(fb_fill on fb_parted_rest)'],
    ['tenant-trigger', 'fb_ruled(fb_notify)'],
    ['tenant-trigger', 'fb_viewed(relkind v)'],
  ],
  sqlite: [
    ['tenant-nullable', 'fb_defaulted(ON CONFLICT)'],
    ['tenant-nullable', 'fb_defaulted(tenant_id)'],
    ['tenant-trigger', 'fb_filled(fb_fill)'],
    ['tenant-nullable', 'fb_ignored(ON CONFLICT)'],
    ['tenant-nullable', 'fb_nullable(tenant_id)'],
    ['tenant-trigger', 'fb_viewed(fb_view_insert)'],
    ['tenant-trigger', 'fb_viewed(view)'],
  ],
  mariadb: [],
};

const kinds = databaseKinds().filter((k): k is 'sqlite' | 'postgres' => k === 'sqlite' || k === 'postgres');

describe.each(kinds)('a table whose NULL tenant column something could let through (%s)', (kind) => {
  let db: TestDatabase;
  let ds: DataSource;
  let tenancy: Tenancy;
  const log = new SqlLog();
  let t1: number;
  /** The question before a table's first folded insert. */
  const question = /pg_catalog\.pg_trigger|sqlite_master/;
  const folded = /^\s*INSERT\b[\s\S]*tenancy_ref_0/i;
  const q = (name: string) => `"${name}"`;
  const count = async (table: string) => Number(((await ds.query(`SELECT COUNT(*) AS n FROM ${q(table)}`)) as Array<{ n: string }>)[0]!.n);

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    ds = new DataSource({ ...db.options, entities, synchronize: true, logger: log, logging: true } as never);
    tenancy = new Tenancy(ds, { defaultManager: 'unscoped' });
    await ds.initialize();
    const [a, b] = await ds.manager.save(FbTenant, [{ name: 'a' }, { name: 'b' }]);
    t1 = a!.id;
    await ds.query(`INSERT INTO fb_projects (id, name, tenant_id) VALUES (${OWN}, 'own', ${t1}), (${THEIRS}, 'theirs', ${b!.id})`);
    // After synchronize, before the Tenancy's first insert into any of these tables.
    await addBlockers(kind, (sql) => ds.query(sql), t1);
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  const writes: Array<[string, (target: Target, project: number) => Promise<unknown>]> = [
    ['insert', (target, project) => tenancy.manager(t1).insert(target, { title: 'x', project: { id: project } } as never)],
    ['save', (target, project) => tenancy.manager(t1).save(target, { title: 'x', project: { id: project } } as never)],
    ['query builder', (target, project) => tenancy.manager(t1).createQueryBuilder().insert().into(target).values({ title: 'x', project: { id: project } } as never).execute()],
  ];

  it.each(blockedTables(kind, 1))('%s, %s: another tenant\'s project is refused on every write path, nothing written; the table takes the separate check', async (table, _what, target, fills) => {
    for (const [name, write] of writes) {
      const before = await count(table);
      log.clear();
      const error = await write(target, THEIRS).then(() => undefined, (e: unknown) => e);
      expect(error, name).toBeInstanceOf(TenantMismatchError);
      expect(await count(table), name).toBe(before);
      expect(log.matching(folded), name).toEqual([]);

      log.clear();
      await write(target, OWN);
      expect(await count(table), name).toBe(before + 1);
      expect(log.matching(/tenancy_refs_/), name).toHaveLength(1);
      expect(log.matching(folded), name).toEqual([]);
    }
    // What would have happened: a raw insert with a NULL tenant column is written (with that tenant).
    if (fills === 'dropped') {
      const before = await count(table);
      await ds.query(`INSERT INTO ${table} (title, project_id, tenant_id) VALUES ('raw', ${THEIRS}, NULL)`);
      expect(await count(table)).toBe(before);
    } else if (fills !== undefined) {
      await ds.query(`INSERT INTO ${table} (title, project_id, tenant_id) VALUES ('raw', ${THEIRS}, NULL)`);
      const [row] = (await ds.query(`SELECT tenant_id FROM ${table} WHERE title = 'raw'`)) as Array<{ tenant_id: unknown }>;
      expect(row && (row.tenant_id === null ? null : Number(row.tenant_id))).toBe(fills === null ? null : t1);
      await ds.query(`DELETE FROM ${table === 'fb_viewed' ? 'fb_viewed_base' : table} WHERE title = 'raw'`);
    }
  });

  it("tenancy.verify() reports each of them ('tenant-trigger', 'tenant-nullable'), and not the plain table", async () => {
    const report = await tenancy.verify();
    const found = report.problems.map((p) => [p.kind, p.subject]).sort((x, y) => x[1]!.localeCompare(y[1]!));
    expect(found).toEqual(verifyReport[kind]);
    const view = report.problems.find((p) => p.subject === (kind === 'postgres' ? 'fb_viewed(relkind v)' : 'fb_viewed(view)'))!;
    expect(view.message).toMatch(kind === 'postgres' ? /not an ordinary table \(relkind v/ : /not an ordinary table \(a view\)/);
    expect(report.problems.find((p) => p.kind === 'tenant-nullable')!.message).toMatch(/fb_nullable\.tenant_id is nullable in the database/);
  });

  it('a table with none of these folds its check into the INSERT, after one question for the table', async () => {
    log.clear();
    await tenancy.manager(t1).insert(FbPlain, { title: 'first', project: { id: OWN } } as never);
    expect(log.matching(question)).toHaveLength(1);
    expect(log.matching(folded)).toHaveLength(1);
    for (const [name, write] of writes) {
      log.clear();
      await expect(write(FbPlain, THEIRS), name).rejects.toBeInstanceOf(TenantMismatchError);
      await write(FbPlain, OWN);
      expect(log.matching(question), name).toEqual([]);
      expect(log.matching(/tenancy_refs_/), name).toEqual([]);
      expect(log.matching(folded), name).toHaveLength(2);
    }
    expect(await count('fb_plain')).toBe(1 + writes.length);
  });

  itWhen(kind === 'postgres')('first inserts of a table on a pool of one connection: an insert holding the connection does not wait for a question that needs another', async () => {
    const fresh = new DataSource({ ...db.options, entities, poolSize: 1 } as never);
    const freshTenancy = new Tenancy(fresh, { defaultManager: 'unscoped' });
    await fresh.initialize();
    let waiter: Promise<unknown> | undefined;
    // While save() holds the only connection (in its transaction, before its INSERT), a second insert of
    // the table starts: it has no connection yet, so it asks on one of its own and waits for the pool.
    fresh.subscribers.push({
      listenTo: () => FbPlain,
      beforeInsert(event: { entity?: { title?: string } }) {
        if (event.entity?.title !== 'holder' || waiter) return;
        waiter = freshTenancy.manager(t1).insert(FbPlain, { title: 'waiter', project: { id: OWN } } as never);
        return new Promise<void>((resolve) => setTimeout(resolve, 100));
      },
    } as never);
    const within = <T>(work: Promise<T>, what: string) =>
      Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} still waiting after 5 s`)), 5000))]);
    try {
      const before = await count('fb_plain');
      await within(freshTenancy.manager(t1).save(FbPlain, { title: 'holder', project: { id: OWN } } as never), 'save');
      await within(waiter!, 'the second insert');
      expect(await count('fb_plain')).toBe(before + 2);
    } finally {
      await fresh.destroy();
    }
  });

  itWhen(kind === 'postgres')("the question inside a transaction (save()'s own, the caller's) runs in a savepoint", async () => {
    // A fresh Tenancy on the same database: nothing is known about the tables yet.
    const fresh = new DataSource({ ...db.options, entities, logger: log, logging: true } as never);
    const freshTenancy = new Tenancy(fresh, { defaultManager: 'unscoped' });
    await fresh.initialize();
    try {
      const before = await count('fb_filled');
      log.clear();
      await freshTenancy.manager(t1).transaction(async (tx) => {
        // In the caller's transaction nothing folds (checked first), but whether the ids an insert reports
        // are rows it wrote is asked all the same, in a savepoint; the refusal leaves the transaction usable.
        await expect(tx.save(FbFilled, { title: 'tx', project: { id: THEIRS } } as never)).rejects.toBeInstanceOf(TenantMismatchError);
        await tx.save(FbFilled, { title: 'tx', project: { id: OWN } } as never);
      });
      expect(await count('fb_filled')).toBe(before + 1);
      expect(log.matching(question)).toHaveLength(1);
      expect(log.matching(/SAVEPOINT tenancy_fold_catalog/)).toHaveLength(2);
      // save()'s own transaction: the question runs in a savepoint of it, then the check refuses.
      log.clear();
      await expect(freshTenancy.manager(t1).save(FbRuled, { title: 'y', project: { id: THEIRS } } as never)).rejects.toBeInstanceOf(TenantMismatchError);
      expect(log.matching(question)).toHaveLength(1);
      expect(log.matching(/SAVEPOINT tenancy_fold_catalog/)).toHaveLength(2);
      // Outside a transaction the first insert asks (on a connection of its own, before it takes one) and is refused by the check.
      log.clear();
      await expect(freshTenancy.manager(t1).insert(FbParted, { title: 'y', project: { id: THEIRS } } as never)).rejects.toBeInstanceOf(TenantMismatchError);
      expect(log.matching(question)).toHaveLength(1);
      expect(log.matching(/SAVEPOINT/)).toEqual([]);
      // A table asked about once is not asked again.
      log.clear();
      await expect(freshTenancy.manager(t1).insert(FbFilled, { title: 'y', project: { id: THEIRS } } as never)).rejects.toBeInstanceOf(TenantMismatchError);
      expect(log.matching(question)).toEqual([]);
      expect(await count('fb_filled')).toBe(before + 1);
    } finally {
      await fresh.destroy();
    }
  });
});
