import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Column, DataSource, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tenancy, TenantEntity, TenantScoped, UnsafeQueryError } from '../src/index.js';
import { SqlLog } from './support/sql-log.js';

// SQLite resolves a conflict on a unique key (the primary key included) that has an ON CONFLICT
// REPLACE clause by deleting the row it conflicts with — whoever's it is. A tenant's insert given
// another tenant's id, or its value of a unique column, or an update to such a value, deleted the
// other tenant's row through a tenant manager. The library asks about the table before its first
// write and refuses writes to it through the tenant scope; { safe: false } stays the way around.

@TenantEntity()
@Entity('cr_tenants')
class CrTenant {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
}

/** Every table here: a title and a unique-looking slug (unique in the hand-written DDL below). */
abstract class CrRow {
  @PrimaryGeneratedColumn() id!: number;
  @Column() title!: string;
  @Column() slug!: string;
  @Column({ nullable: true }) deletedAt?: Date;
  tenantId!: number;
}

/** The primary key is ON CONFLICT REPLACE. */
@TenantScoped()
@Entity('cr_by_id')
class CrById extends CrRow {}

/** A unique column is ON CONFLICT REPLACE, spelled with a comment and a line break inside the clause. */
@TenantScoped()
@Entity('cr_by_slug')
class CrBySlug extends CrRow {}

/** A plain unique column, an ON CONFLICT IGNORE clause and a NOT NULL ON CONFLICT REPLACE: no row is deleted, writes go on. */
@TenantScoped()
@Entity('cr_ignoring')
class CrIgnoring extends CrRow {}

const entities = [CrTenant, CrById, CrBySlug, CrIgnoring];
type Target = typeof CrById;

const ddl = (table: string, id: string, slug: string, title = 'NOT NULL') =>
  `CREATE TABLE ${table} (id integer ${id}, title varchar ${title}, slug varchar NOT NULL ${slug}, "deletedAt" datetime, ` +
  'tenant_id integer NOT NULL REFERENCES cr_tenants (id))';

describe('a SQLite table with ON CONFLICT REPLACE', () => {
  let ds: DataSource;
  let tenancy: Tenancy;
  let a: number;
  let b: number;
  const log = new SqlLog();

  beforeAll(async () => {
    ds = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities, synchronize: true, logger: log, logging: true });
    tenancy = new Tenancy(ds, { defaultManager: 'unscoped' });
    await ds.initialize();
    [a, b] = (await ds.manager.save(CrTenant, [{ name: 'a' }, { name: 'b' }])).map((t) => t.id) as [number, number];
    for (const table of ['cr_by_id', 'cr_by_slug', 'cr_ignoring']) await ds.query(`DROP TABLE ${table}`);
    await ds.query(ddl('cr_by_id', 'PRIMARY KEY ON CONFLICT REPLACE AUTOINCREMENT', 'UNIQUE'));
    await ds.query(ddl('cr_by_slug', 'PRIMARY KEY AUTOINCREMENT', 'UNIQUE ON /* resolve */\n CONFLICT   replace'));
    // NOT NULL ON CONFLICT REPLACE puts the default in place of a NULL: it deletes nothing.
    await ds.query(ddl('cr_ignoring', 'PRIMARY KEY ON CONFLICT IGNORE AUTOINCREMENT', 'UNIQUE', "NOT NULL ON CONFLICT REPLACE DEFAULT 'untitled'"));
  });
  afterAll(async () => {
    await ds?.destroy();
  });

  /** The other tenant's rows, by raw SQL: their ids and slugs. */
  const theirRows = async (table: string) => (await ds.query(`SELECT id, slug FROM ${table} WHERE tenant_id = ${b} ORDER BY id`)) as Array<{ id: number; slug: string }>;

  const writes: Array<[string, (target: Target, theirs: { id: number; slug: string }, own: number) => Promise<unknown>]> = [
    ['insert given their id', (target, theirs) => tenancy.manager(a).insert(target, { id: theirs.id, title: 'a', slug: `a-${theirs.id}` })],
    ['insert given their slug', (target, theirs) => tenancy.manager(a).insert(target, { title: 'a', slug: theirs.slug })],
    ['query builder insert', (target, theirs) => tenancy.manager(a).createQueryBuilder().insert().into(target).values({ title: 'a', slug: theirs.slug }).execute()],
    ['repository insert', (target, theirs) => tenancy.manager(a).getRepository(target).insert({ title: 'a', slug: theirs.slug })],
    ['save of a new row', (target, theirs) => tenancy.manager(a).save(target, { title: 'a', slug: theirs.slug })],
    ['upsert', (target, theirs) => tenancy.manager(a).upsert(target, { title: 'a', slug: theirs.slug }, ['slug'])],
    ['update to their slug', (target, theirs, own) => tenancy.manager(a).update(target, { id: own }, { slug: theirs.slug })],
    ['save of an existing row', async (target, theirs, own) => tenancy.manager(a).save(target, { ...(await tenancy.manager(a).findOneByOrFail(target, { id: own })), slug: theirs.slug })],
    ['transaction', (target, theirs) => tenancy.manager(a).transaction((tx) => tx.insert(target, { title: 'a', slug: theirs.slug }))],
    ['soft delete', (target, _theirs, own) => tenancy.manager(a).softDelete(target, { id: own })],
  ];

  it.each([
    ['cr_by_id', 'the primary key', CrById],
    ['cr_by_slug', 'a unique column', CrBySlug],
  ] as const)('%s (%s): every write through the tenant scope is refused before anything is sent; their rows stay', async (table, _what, target) => {
    // Written before the library knew the table: raw SQL, as the other tenant's own app would.
    await ds.query(`INSERT INTO ${table} (title, slug, tenant_id) VALUES ('b', 'b-1', ${b}), ('b', 'b-2', ${b})`);
    await ds.query(`INSERT INTO ${table} (title, slug, tenant_id) VALUES ('a', 'a-own', ${a})`);
    const [{ id: own }] = (await ds.query(`SELECT id FROM ${table} WHERE slug = 'a-own'`)) as Array<{ id: number }>;
    const before = await theirRows(table);
    const total = async () => Number(((await ds.query(`SELECT COUNT(*) AS n FROM ${table}`)) as Array<{ n: number }>)[0]!.n);
    const count = await total();
    for (const [name, write] of writes) {
      log.clear();
      const error = await write(target, before[0]!, own).then(() => undefined, (e: unknown) => e);
      expect(error, name).toBeInstanceOf(UnsafeQueryError);
      expect((error as Error).message, name).toMatch(/ON CONFLICT REPLACE/);
      expect(log.matching(/^\s*(INSERT|UPDATE|DELETE)\b/i), name).toEqual([]);
      expect(await theirRows(table), name).toEqual(before);
      expect(await total(), name).toBe(count);
    }
    // What it would have done: the write resolves the conflict by deleting their row.
    const taking = table === 'cr_by_id' ? { id: before[1]!.id, slug: 'bypass' } : { slug: before[1]!.slug };
    await tenancy.manager(a).createQueryBuilder(target, 'row', { safe: false }).insert().values({ title: 'bypass', ...taking, tenantId: a } as never).execute();
    expect(await theirRows(table)).toEqual([before[0]]);
  });

  it('a table whose clauses delete no row (IGNORE, NOT NULL ... REPLACE) is written as usual', async () => {
    await tenancy.manager(b).insert(CrIgnoring, { title: 'b', slug: 'b-taken' });
    await tenancy.manager(a).insert(CrIgnoring, { title: 'a', slug: 'a-free' });
    // A conflicting slug is refused by the database (a plain UNIQUE), not by the library.
    await expect(tenancy.manager(a).insert(CrIgnoring, { title: 'a', slug: 'b-taken' })).rejects.not.toBeInstanceOf(UnsafeQueryError);
    expect(await ds.query(`SELECT slug, tenant_id FROM cr_ignoring ORDER BY id`)).toEqual([
      { slug: 'b-taken', tenant_id: b },
      { slug: 'a-free', tenant_id: a },
    ]);
  });

  it("tenancy.verify() reports each REPLACE table ('conflict-replace'), and not the others", async () => {
    const report = await tenancy.verify();
    const replace = report.problems.filter((p) => p.kind === 'conflict-replace').map((p) => p.subject).sort();
    expect(replace).toEqual(['cr_by_id(ON CONFLICT REPLACE)', 'cr_by_slug(ON CONFLICT REPLACE)']);
    expect(report.problems.find((p) => p.kind === 'conflict-replace')!.message).toMatch(/another tenant's too/);
  });
});

// A table of an attached database (an entity's `database`): its clauses are looked up in that
// database's master table, under the handle TypeORM attached it with.
describe('an attached SQLite database', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tenancy-attached-'));

  @TenantScoped({ index: false })
  @Entity({ name: 'cr_attached', database: path.join(dir, 'other.db') })
  class CrAttached extends CrRow {}

  @TenantScoped({ index: false })
  @Entity({ name: 'cr_attached_plain', database: path.join(dir, 'other.db') })
  class CrAttachedPlain extends CrRow {}

  let ds: DataSource;
  let tenancy: Tenancy;

  beforeAll(async () => {
    // TypeORM's synchronize cannot put a foreign key across databases: the tables are made here.
    ds = new DataSource({ type: 'better-sqlite3', database: path.join(dir, 'main.db'), entities: [CrTenant, CrAttached, CrAttachedPlain] });
    tenancy = new Tenancy(ds, { defaultManager: 'unscoped' });
    await ds.initialize();
    await ds.query('CREATE TABLE cr_tenants (id integer PRIMARY KEY AUTOINCREMENT, name varchar NOT NULL)');
    await ds.query("INSERT INTO cr_tenants (name) VALUES ('a'), ('b')");
    const handle = (metadata: { tablePath: string }) => metadata.tablePath.split('.')[0];
    await ds.query(ddl(`"${handle(ds.getMetadata(CrAttached))}".cr_attached`, 'PRIMARY KEY ON CONFLICT REPLACE AUTOINCREMENT', 'UNIQUE').replace(' REFERENCES cr_tenants (id)', ''));
    await ds.query(ddl(`"${handle(ds.getMetadata(CrAttachedPlain))}".cr_attached_plain`, 'PRIMARY KEY AUTOINCREMENT', 'UNIQUE').replace(' REFERENCES cr_tenants (id)', ''));
  });
  afterAll(async () => {
    await ds?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a REPLACE clause there is found: writes refused, verify() reports it; a table without one is written as usual', async () => {
    const theirs = Number((await tenancy.manager(2).createQueryBuilder(CrAttached, 'row', { safe: false }).insert().values({ title: 'b', slug: 'b', tenantId: 2 } as never).execute()).identifiers[0]!.id);
    await expect(tenancy.manager(1).insert(CrAttached, { id: theirs, title: 'a', slug: 'a' })).rejects.toBeInstanceOf(UnsafeQueryError);
    expect(await ds.getRepository(CrAttached).count()).toBe(1);
    await tenancy.manager(1).insert(CrAttachedPlain, { title: 'a', slug: 'a' });
    expect(await tenancy.manager(1).count(CrAttachedPlain)).toBe(1);
    const report = await tenancy.verify();
    expect(report.problems.filter((p) => p.kind === 'conflict-replace').map((p) => p.subject)).toEqual([`${ds.getMetadata(CrAttached).tablePath}(ON CONFLICT REPLACE)`]);
  });
});

