import 'reflect-metadata';
import { Column, DataSource, Entity, JoinColumn, ManyToOne, OneToMany, PrimaryGeneratedColumn } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tenancy, TenantEntity, TenantMismatchError, TenantScoped } from '../src/index.js';
import { conformanceKinds, databaseKinds, createTestDatabase, type DatabaseKind, type TestDatabase } from './support/databases.js';
import { SqlLog } from './support/sql-log.js';

// After an insert, TypeORM reads the columns the database filled in (defaults, generated values)
// back: with RETURNING on PostgreSQL, and on SQLite by a SELECT of the id `last_insert_rowid()`
// gives — the connection's last inserted row, which is the statement's own only if it wrote one.
// A table can make an insert succeed and write nothing: a trigger that RAISE(IGNORE)s the row, an
// ON CONFLICT IGNORE clause in the schema, a view whose INSTEAD OF trigger writes elsewhere (or not
// at all). The id is then that of the connection's previous insert — on SQLite's one shared
// connection, possibly another tenant's — and the re-select must not read that tenant's row.

@TenantEntity()
@Entity('rs_tenants')
class RsTenant {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
}

/** What each table under test looks like: a title, and a column the database fills in. */
abstract class RsRow {
  @PrimaryGeneratedColumn() id!: number;
  @Column() title!: string;
  @Column({ default: 'none' }) secret!: string;
  tenantId!: number;
}

/** A BEFORE INSERT trigger drops rows titled 'drop' (SQLite: RAISE(IGNORE); PostgreSQL: RETURN NULL). */
@TenantScoped()
@Entity('rs_dropped')
class RsDropped extends RsRow {
  @OneToMany(() => RsLink, (link) => link.dropped, { cascade: true }) links?: RsLink[];
}

/** SQLite: the primary key is ON CONFLICT IGNORE, so an id already taken writes nothing. */
@TenantScoped()
@Entity('rs_ignored')
class RsIgnored extends RsRow {}

/** A view whose INSTEAD OF trigger writes nothing for rows titled 'drop'. */
@TenantScoped()
@Entity('rs_viewed')
class RsViewed extends RsRow {}

/** None of that: on SQLite the re-select reads the row by the statement's id, after one question for the table. */
@TenantScoped()
@Entity('rs_plain')
class RsPlain extends RsRow {}

/** Points at rows of the tables above: its reference check must not trust ids of rows an insert did not write. */
@TenantScoped()
@Entity('rs_links')
class RsLink {
  @PrimaryGeneratedColumn() id!: number;
  @ManyToOne(() => RsDropped, (dropped) => dropped.links, { nullable: true }) @JoinColumn({ name: 'dropped_id' }) dropped?: RsDropped;
  @ManyToOne(() => RsPlain, { nullable: true }) @JoinColumn({ name: 'plain_id' }) plain?: RsPlain;
  tenantId!: number;
}

const entities = [RsTenant, RsDropped, RsIgnored, RsViewed, RsPlain, RsLink];
type Target = typeof RsDropped;

async function addDroppers(kind: DatabaseKind, query: (sql: string) => Promise<unknown>): Promise<void> {
  if (kind === 'postgres') {
    await query(`CREATE FUNCTION rs_drop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.title = 'drop' THEN RETURN NULL; END IF; RETURN NEW; END $$`);
    await query('CREATE TRIGGER rs_drop BEFORE INSERT ON rs_dropped FOR EACH ROW EXECUTE FUNCTION rs_drop()');
    await query('ALTER TABLE rs_viewed RENAME TO rs_viewed_base');
    await query('CREATE VIEW rs_viewed AS SELECT * FROM rs_viewed_base');
    await query(
      `CREATE FUNCTION rs_view_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.title = 'drop' THEN RETURN NULL; END IF; ` +
        `INSERT INTO rs_viewed_base (title, secret, tenant_id) VALUES (NEW.title, coalesce(NEW.secret, 'none'), NEW.tenant_id) RETURNING id, secret INTO NEW.id, NEW.secret; RETURN NEW; END $$`,
    );
    await query('CREATE TRIGGER rs_view_insert INSTEAD OF INSERT ON rs_viewed FOR EACH ROW EXECUTE FUNCTION rs_view_insert()');
    return;
  }
  await query(`CREATE TRIGGER rs_drop BEFORE INSERT ON rs_dropped WHEN NEW.title = 'drop' BEGIN SELECT RAISE(IGNORE); END`);
  const [{ sql }] = (await query("SELECT sql FROM sqlite_master WHERE name = 'rs_ignored'")) as Array<{ sql: string }>;
  const ignoring = sql.replace('PRIMARY KEY AUTOINCREMENT', 'PRIMARY KEY ON CONFLICT IGNORE AUTOINCREMENT');
  if (ignoring === sql) throw new Error(`rs_ignored: no primary key clause to change in ${sql}`);
  await query('DROP TABLE rs_ignored');
  await query(ignoring);
  await query('ALTER TABLE rs_viewed RENAME TO rs_viewed_base');
  await query('CREATE VIEW rs_viewed AS SELECT * FROM rs_viewed_base');
  await query(
    `CREATE TRIGGER rs_view_insert INSTEAD OF INSERT ON rs_viewed WHEN NEW.title <> 'drop' BEGIN ` +
      'INSERT INTO rs_viewed_base (title, secret, tenant_id) VALUES (NEW.title, NEW.secret, NEW.tenant_id); END',
  );
}

/** Per database: the table, how an insert into it writes nothing, and the values of such an insert (given the tenant's own row id). */
function droppingTables(kind: DatabaseKind): Array<[string, string, Target, (own: number) => Partial<RsRow>]> {
  const tables: Array<[string, string, Target, (own: number) => Partial<RsRow>]> = [
    ['rs_dropped', 'a BEFORE INSERT trigger drops the row', RsDropped, () => ({ title: 'drop' })],
    ['rs_viewed', "a view's INSTEAD OF trigger writes nothing", RsViewed, () => ({ title: 'drop' })],
  ];
  if (kind === 'sqlite') tables.push(['rs_ignored', 'the primary key is ON CONFLICT IGNORE and the id is taken', RsIgnored as Target, (own) => ({ id: own, title: 'again' })]);
  return tables;
}

describe.each(databaseKinds().filter((k) => k !== 'mariadb'))('an insert the table drops reads no other tenant\'s row back (%s)', (kind) => {
  let db: TestDatabase;
  let ds: DataSource;
  let tenancy: Tenancy;
  let a: number;
  let b: number;
  const log = new SqlLog();

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    ds = new DataSource({ ...db.options, entities, synchronize: true, logger: log, logging: true } as never);
    tenancy = new Tenancy(ds, { defaultManager: 'unscoped' });
    await ds.initialize();
    [a, b] = (await ds.manager.save(RsTenant, [{ name: 'a' }, { name: 'b' }])).map((t) => t.id) as [number, number];
    await addDroppers(kind, (sql) => ds.query(sql));
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  const writes: Array<[string, (target: Target, values: Partial<RsRow>) => Promise<unknown>]> = [
    ['manager.insert', (target, values) => tenancy.manager(a).insert(target, values)],
    ['repository.insert', (target, values) => tenancy.manager(a).getRepository(target).insert(values)],
    ['query builder insert', (target, values) => tenancy.manager(a).createQueryBuilder().insert().into(target).values(values).execute()],
    ['save', (target, values) => tenancy.manager(a).save(target, { ...values })],
    ['save in a transaction', (target, values) => tenancy.manager(a).transaction((tx) => tx.save(target, { ...values }))],
  ];

  it.each(droppingTables(kind))('%s (%s): every write path', async (table, _how, target, dropped) => {
    const base = table === 'rs_viewed' ? 'rs_viewed_base' : table;
    const own = (await tenancy.manager(a).insert(target, { title: 'own' })).identifiers[0]!.id as number;
    for (const [name, write] of writes) {
      // The other tenant's row is the connection's last insert (SQLite: one connection for every tenant).
      await ds.query(`INSERT INTO ${base} (title, secret, tenant_id) VALUES ('theirs', 'B-SECRET', ${b})`);
      log.clear();
      const outcome = await write(target, dropped(own)).then(
        (result) => JSON.stringify(result),
        (error: unknown) => String(error),
      );
      expect(outcome, name).not.toContain('B-SECRET');
      // Whatever it re-selected, it did through the tenant scope.
      for (const select of log.matching(/^\s*SELECT\b/i).filter((s) => s.includes(`"${table}"`))) expect(select, name).toMatch(/tenant_id"? = /);
    }
    // What it would have read: the last inserted row on SQLite's connection is the other tenant's.
    if (kind === 'sqlite') {
      await ds.query(`INSERT INTO ${base} (title, secret, tenant_id) VALUES ('theirs', 'B-SECRET', ${b})`);
      const [{ id }] = (await ds.query('SELECT last_insert_rowid() AS id')) as Array<{ id: number }>;
      const [row] = (await ds.query(`SELECT tenant_id FROM ${base} WHERE id = ${id}`)) as Array<{ tenant_id: number }>;
      expect(row!.tenant_id).toBe(b);
    }
  });

  it('a table with none of these: the insert reads its own row back (SQLite: after one question for the table)', async () => {
    log.clear();
    const results = [];
    for (let i = 0; i < 3; i++) {
      await ds.query(`INSERT INTO rs_plain (title, secret, tenant_id) VALUES ('theirs', 'B-SECRET', ${b})`);
      results.push(await tenancy.manager(a).insert(RsPlain, { title: `own ${i}` }));
    }
    expect(log.matching(/sqlite_master/)).toHaveLength(kind === 'sqlite' ? 1 : 0);
    for (const [i, result] of results.entries()) {
      const [row] = (await ds.query(`SELECT id, tenant_id, title FROM rs_plain WHERE id = ${Number(result.identifiers[0]!.id)}`)) as Array<{ tenant_id: number; title: string }>;
      expect(row).toMatchObject({ tenant_id: a, title: `own ${i}` });
      expect(result.generatedMaps[0]).toMatchObject({ secret: 'none' });
    }
  });

  // Within one transaction the library trusts the ids of rows the tenant inserted there (no check for
  // a reference to them): only ids of rows the insert really wrote may count.
  it('an id reported for a row the insert did not write is not trusted by a later reference check in the transaction', async () => {
    const theirs = async (table: string) => {
      await ds.query(`INSERT INTO ${table} (title, secret, tenant_id) VALUES ('theirs', 'B-SECRET', ${b})`);
      const [row] = (await ds.query(`SELECT max(id) AS id FROM ${table} WHERE tenant_id = ${b}`)) as Array<{ id: number }>;
      return Number(row!.id);
    };
    const links = async () => Number(((await ds.query('SELECT COUNT(*) AS n FROM rs_links')) as Array<{ n: string }>)[0]!.n);
    /** Each case: an insert that writes nothing yet may report the other tenant's id; resolves to that id and the relation to name it by. */
    type Case = (tx: EntityManagerLike) => Promise<[number, 'dropped' | 'plain']>;
    const cases: Array<[string, Case]> = [
      ["OR IGNORE given the other tenant's id", async (tx) => {
        const id = await theirs('rs_plain');
        await tx.createQueryBuilder().insert().into(RsPlain).values({ id, title: 'again' }).orIgnore().execute();
        return [id, 'plain'];
      }],
      ["a trigger drops the row given the other tenant's id", async (tx) => {
        const id = await theirs('rs_dropped');
        await tx.insert(RsDropped, { id, title: 'drop' });
        return [id, 'dropped'];
      }],
    ];
    if (kind === 'sqlite') {
      cases.push(["a trigger drops the row; last_insert_rowid() is the other tenant's", async (tx) => {
        const id = await theirs('rs_dropped');
        const result = await tx.insert(RsDropped, { title: 'drop' });
        // What TypeORM reports: the connection's last insert id, the other tenant's row.
        expect(Number(result.identifiers[0]!.id)).toBe(id);
        return [id, 'dropped'];
      }]);
    }
    // A cascade: save() inserts the row (dropped), then its links with the id it was given back.
    const crossLinks = async () => Number(((await ds.query(
      `SELECT COUNT(*) AS n FROM rs_links l JOIN rs_dropped d ON d.id = l.dropped_id WHERE l.tenant_id = ${a} AND d.tenant_id = ${b}`,
    )) as Array<{ n: string }>)[0]!.n);
    await theirs('rs_dropped');
    const linksBefore = await links();
    await tenancy.manager(a).save(RsDropped, { title: 'drop', links: [{}] }).catch(() => undefined);
    expect(await crossLinks(), 'save with a cascaded link').toBe(0);
    expect(await links(), 'save with a cascaded link').toBe(linksBefore);
    for (const [name, insertNothing] of cases) {
      const before = await links();
      const error = await tenancy.manager(a).transaction(async (tx) => {
        const [id, relation] = await insertNothing(tx);
        return tx.insert(RsLink, { [relation]: { id } }).then(() => undefined, (e: unknown) => e);
      });
      expect(error, name).toBeInstanceOf(TenantMismatchError);
      expect(await links(), name).toBe(before);
    }
  });
});

type EntityManagerLike = ReturnType<Tenancy['manager']>;

// MySQL and MariaDB drop a row silently only under INSERT IGNORE, whose reported id is then the one given.
describe.each((await conformanceKinds()).filter((k) => k === 'mariadb'))('an ignored insert vouches for no id (%s)', (kind) => {
  let db: TestDatabase;
  let ds: DataSource;
  let tenancy: Tenancy;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    ds = new DataSource({ ...db.options, entities, synchronize: true } as never);
    tenancy = new Tenancy(ds, { defaultManager: 'unscoped' });
    await ds.initialize();
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it("orIgnore() given the other tenant's id, then a row pointing at that id in the same transaction: TenantMismatchError, nothing written", async () => {
    const [a, b] = (await ds.manager.save(RsTenant, [{ name: 'a' }, { name: 'b' }])).map((t) => t.id) as [number, number];
    const theirs = Number((await tenancy.manager(b).insert(RsPlain, { title: 'theirs' })).identifiers[0]!.id);
    const error = await tenancy.manager(a).transaction(async (tx) => {
      const ignored = await tx.createQueryBuilder().insert().into(RsPlain).values({ id: theirs, title: 'again' }).orIgnore().execute();
      expect(Number(ignored.identifiers[0]?.id)).toBe(theirs);
      return tx.insert(RsLink, { plain: { id: theirs } }).then(() => undefined, (e: unknown) => e);
    });
    expect(error).toBeInstanceOf(TenantMismatchError);
    expect(await ds.getRepository(RsLink).count()).toBe(0);
  });
});

