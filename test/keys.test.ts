import 'reflect-metadata';
import { Column, DataSource, Entity, JoinTable, ManyToMany, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tenancy, TenantEntity, TenantMismatchError, TenantScoped, TenantUnique } from '../src/index.js';
import { SqlLog } from './support/blog-world.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from './support/databases.js';
import { itWhen } from './support/it-when.js';

@TenantEntity()
@Entity('k_tenants')
class KTenant {
  @PrimaryGeneratedColumn() id!: number;
}

@TenantScoped({ compositeKeys: true })
@Entity('k_authors')
class Author {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
  tenantId!: number;
}

@TenantScoped()
@Entity('k_genres')
class Genre {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
  tenantId!: number;
}

@TenantScoped({ compositeKeys: true })
@Entity('k_books')
class Book {
  @PrimaryGeneratedColumn() id!: number;
  @Column() title!: string;
  @ManyToOne(() => Author, { nullable: true }) author?: Author | null;
  @ManyToMany(() => Genre) @JoinTable({ name: 'k_book_genres' }) genres?: Genre[];
  tenantId!: number;
}

/** No composite keys: the app-side check guards its references. */
@TenantScoped()
@Entity('k_reviews')
class Review {
  @PrimaryGeneratedColumn() id!: number;
  @Column() text!: string;
  @ManyToOne(() => Author, { nullable: true }) author?: Author | null;
  tenantId!: number;
}

@TenantUnique(['slug'])
@TenantScoped()
@Entity('k_articles')
class Article {
  @PrimaryGeneratedColumn() id!: number;
  @Column() slug!: string;
  tenantId!: number;
}

@TenantScoped()
@Entity('k_legacy')
class Legacy {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ unique: true }) code!: string;
  tenantId!: number;
}

const entities = [KTenant, Author, Genre, Book, Review, Article, Legacy];

describe.each(databaseKinds())('tenant-aware keys on %s', (kind) => {
  let db: TestDatabase;
  let ds: DataSource;
  let tenancy: Tenancy;
  let t1: number;
  let t2: number;
  let foreignAuthor: Author;
  let foreignGenre: Genre;
  const q = (name: string) => ds.driver.escape(name);
  const log = new SqlLog();
  beforeAll(async () => {
    db = await createTestDatabase(kind);
    ds = new DataSource({ ...db.options, entities, synchronize: true, logger: log, logging: true } as never);
    tenancy = new Tenancy(ds, { defaultManager: 'unscoped' });
    await ds.initialize();
    [t1, t2] = (await ds.manager.save(KTenant, [{}, {}])).map((t) => t.id) as [number, number];
    foreignAuthor = await tenancy.manager(t2).save(Author, { name: 'theirs' });
    foreignGenre = await tenancy.manager(t2).save(Genre, { name: 'their-genre' });
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('synchronize and the migration diff agree: no pending change', async () => {
    expect((await ds.driver.createSchemaBuilder().log()).upQueries.map((x) => x.query)).toEqual([]);
    const table = (await ds.createQueryRunner().getTable('k_books'))!;
    const fk = table.foreignKeys.find((f) => f.referencedTableName.endsWith('k_authors'))!;
    expect([...fk.columnNames].sort()).toEqual(['authorId', 'tenant_id']);
    expect([...fk.referencedColumnNames].sort()).toEqual(['id', 'tenant_id']);
  });

  it('with composite keys the database rejects a raw INSERT / UPDATE referencing another tenant row', async () => {
    const insert = `INSERT INTO ${q('k_books')} (${q('title')}, ${q('tenant_id')}, ${q('authorId')}) VALUES ('raw', ${t1}, ${foreignAuthor.id})`;
    await expect(ds.query(insert)).rejects.toThrow(/FOREIGN KEY|foreign key/);
    const own = await tenancy.manager(t1).save(Author, { name: 'mine' });
    await ds.query(`INSERT INTO ${q('k_books')} (${q('title')}, ${q('tenant_id')}, ${q('authorId')}) VALUES ('raw-ok', ${t1}, ${own.id})`);
    await ds.query(`INSERT INTO ${q('k_books')} (${q('title')}, ${q('tenant_id')}, ${q('authorId')}) VALUES ('no-author', ${t1}, NULL)`);
    await expect(ds.query(`UPDATE ${q('k_books')} SET ${q('authorId')} = ${foreignAuthor.id} WHERE ${q('title')} = 'raw-ok'`)).rejects.toThrow(
      /FOREIGN KEY|foreign key/,
    );
    const book = await tenancy.manager(t1).findOneOrFail(Book, { where: { title: 'raw-ok' }, relations: { author: true } });
    expect(book.author?.name).toBe('mine');
  });

  it('without composite keys, save / insert / update / relation().set pointing at another tenant row are refused, nothing written', async () => {
    const em = tenancy.manager(t1);
    await expect(em.save(Review, { text: 'x', author: foreignAuthor })).rejects.toBeInstanceOf(TenantMismatchError);
    await expect(em.save(Review, { text: 'x', author: { id: foreignAuthor.id } as Author })).rejects.toBeInstanceOf(TenantMismatchError);
    await expect(em.insert(Review, { text: 'x', author: { id: foreignAuthor.id } })).rejects.toBeInstanceOf(TenantMismatchError);
    const review = await em.save(Review, { text: 'mine' });
    await expect(em.update(Review, review.id, { author: { id: foreignAuthor.id } })).rejects.toBeInstanceOf(TenantMismatchError);
    await expect(em.createQueryBuilder().relation(Review, 'author').of(review).set(foreignAuthor.id)).rejects.toBeInstanceOf(TenantMismatchError);
    // A nonexistent id is refused the same way (the error does not reveal which ids exist).
    await expect(em.save(Review, { text: 'x', author: { id: 999_999 } as Author })).rejects.toBeInstanceOf(TenantMismatchError);
    expect(await ds.manager.countBy(Review, { text: 'x' })).toBe(0);
    const ownAuthor = await em.save(Author, { name: 'own' });
    await em.save(Review, { text: 'fine', author: ownAuthor });
    await em.createQueryBuilder().relation(Review, 'author').of(review).set(ownAuthor.id);
  });

  it('with composite keys the database checks the reference: no query; another tenant\'s or a missing id is still a TenantMismatchError', async () => {
    const em = tenancy.manager(t1);
    const own = await em.save(Author, { name: 'checked-by-db' });
    log.clear();
    await em.insert(Book, { title: 'fast', author: { id: own.id } });
    await em.save(Book, { title: 'fast-save', author: { id: own.id } as Author });
    expect(log.matching(/"ref"/)).toEqual([]);
    for (const author of [{ id: foreignAuthor.id }, { id: 987_654 }]) {
      const insert = await em.insert(Book, { title: 'smuggled', author }).catch((e: unknown) => e);
      expect(insert).toBeInstanceOf(TenantMismatchError);
      expect((insert as TenantMismatchError).message).toMatch(/Book\.author .* not a row of tenant/);
      await expect(em.save(Book, { title: 'smuggled', author: author as Author })).rejects.toBeInstanceOf(TenantMismatchError);
      const book = await em.findOneByOrFail(Book, { title: 'fast' });
      await expect(em.update(Book, book.id, { author })).rejects.toBeInstanceOf(TenantMismatchError);
    }
    expect(await ds.manager.countBy(Book, { title: 'smuggled' })).toBe(0);
    expect((await em.findOneOrFail(Book, { where: { title: 'fast' }, relations: { author: true } })).author?.id).toBe(own.id);
  });

  it('many-to-many links to another tenant row are refused (save cascade and relation().add); checks are batched', async () => {
    const em = tenancy.manager(t1);
    const mine = await em.save(Genre, [{ name: 'g1' }, { name: 'g2' }, { name: 'g3' }]);
    await expect(em.save(Book, { title: 'mixed', genres: [...mine, foreignGenre] })).rejects.toBeInstanceOf(TenantMismatchError);
    const book = await em.save(Book, { title: 'linked', genres: mine });
    await expect(em.createQueryBuilder().relation(Book, 'genres').of(book).add(foreignGenre.id)).rejects.toBeInstanceOf(TenantMismatchError);
    const author = await em.findOneByOrFail(Author, { name: 'own' });
    log.clear();
    await em.save(Book, { title: 'batched', genres: mine, author });
    // One reference query per referenced entity type, not per row — and none for the author, whose
    // composite tenant key the database checks itself: only the genres (a junction) are queried.
    expect(log.matching(/"ref"/)).toHaveLength(1);
    expect((await em.findOneOrFail(Book, { where: { id: book.id }, relations: { genres: true } })).genres?.map((g) => g.name).sort()).toEqual(['g1', 'g2', 'g3']);
  });

  it('@TenantUnique: the same slug in two tenants is accepted, twice in one tenant rejected', async () => {
    await tenancy.manager(t1).save(Article, { slug: 'hello' });
    await tenancy.manager(t2).save(Article, { slug: 'hello' });
    await expect(tenancy.manager(t1).save(Article, { slug: 'hello' })).rejects.toThrow(/UNIQUE|unique|duplicate/);
  });

  it('tenancy.verify() reports a unique constraint without tenant_id (and only that one)', async () => {
    const report = await tenancy.verify();
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => [p.kind, p.subject])).toEqual([['global-unique', 'k_legacy(code)']]);
  });

  itWhen(kind === 'sqlite')('tenancy.verify() reports SQLite foreign keys turned off while composite keys rely on them', async () => {
    await ds.query('PRAGMA foreign_keys = OFF');
    try {
      const report = await tenancy.verify();
      expect(report.problems.map((p) => [p.kind, p.subject])).toEqual([
        ['global-unique', 'k_legacy(code)'],
        ['foreign-keys-off', 'k_books'],
      ]);
      expect(report.problems[1]!.message).toMatch(/PRAGMA foreign_keys = ON on every connection/);
      // What the problem means: this connection now accepts another tenant's author.
      await ds.query(`INSERT INTO ${q('k_books')} (${q('title')}, ${q('tenant_id')}, ${q('authorId')}) VALUES ('unchecked', ${t1}, ${foreignAuthor.id})`);
      await ds.query(`DELETE FROM ${q('k_books')} WHERE ${q('title')} = 'unchecked'`);
    } finally {
      await ds.query('PRAGMA foreign_keys = ON');
    }
    expect((await tenancy.verify()).problems.map((p) => p.kind)).toEqual(['global-unique']);
  });

  // A one-row insert checks its references inside the statement and relies on the tenant column staying
  // NULL when one is not the tenant's: a trigger that fills it in is reported.
  itWhen(kind === 'postgres')('tenancy.verify() reports a BEFORE INSERT trigger on a scoped table', async () => {
    await ds.query(`CREATE FUNCTION k_fill_tenant() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.tenant_id IS NULL THEN NEW.tenant_id := ${t1}; END IF; RETURN NEW; END $$`);
    await ds.query(`CREATE TRIGGER k_fill BEFORE INSERT ON ${q('k_books')} FOR EACH ROW EXECUTE FUNCTION k_fill_tenant()`);
    // Statement-level and AFTER triggers cannot change the row: not reported.
    await ds.query(`CREATE TRIGGER k_after AFTER INSERT ON ${q('k_books')} FOR EACH ROW EXECUTE FUNCTION k_fill_tenant()`);
    try {
      const report = await tenancy.verify();
      expect(report.problems.map((p) => [p.kind, p.subject])).toEqual([
        ['global-unique', 'k_legacy(code)'],
        ['tenant-trigger', 'k_books(k_fill)'],
      ]);
      expect(report.problems[1]!.message).toMatch(/leave a NULL tenant column alone/);
    } finally {
      await ds.query(`DROP TRIGGER k_fill ON ${q('k_books')}`);
      await ds.query(`DROP TRIGGER k_after ON ${q('k_books')}`);
      await ds.query('DROP FUNCTION k_fill_tenant()');
    }
    expect((await tenancy.verify()).problems.map((p) => p.kind)).toEqual(['global-unique']);
  });
});

// Citus layout: the tenant column is part of every scoped primary key.
@TenantEntity()
@Entity('c_tenants')
class CTenant {
  @PrimaryGeneratedColumn() id!: number;
}
@Entity('c_countries')
class Country {
  @PrimaryGeneratedColumn() id!: number;
}
@TenantScoped()
@Entity('c_stores')
class Store {
  @PrimaryGeneratedColumn() id!: number;
  tenantId!: number;
}
@TenantScoped()
@Entity('c_orders')
class Order {
  @PrimaryGeneratedColumn() id!: number;
  @ManyToOne(() => Store) store!: Store;
  tenantId!: number;
}

describe.skipIf(!databaseKinds().includes('postgres'))("compositeKeys: 'primary' and the Citus plan", () => {
  it('puts tenant_id in every scoped primary key, keeps the schema diff empty, and generates the distribution DDL', async () => {
    const db = await createTestDatabase('postgres');
    const ds = new DataSource({ ...db.options, entities: [CTenant, Country, Order, Store], synchronize: true } as never);
    const tenancy = new Tenancy(ds, { compositeKeys: 'primary', defaultManager: 'unscoped' });
    await ds.initialize();
    try {
      expect(ds.getMetadata(Order).primaryColumns.map((c) => c.databaseName).sort()).toEqual(['id', 'tenant_id']);
      expect(ds.getMetadata(Store).primaryColumns.map((c) => c.databaseName).sort()).toEqual(['id', 'tenant_id']);
      expect((await ds.driver.createSchemaBuilder().log()).upQueries).toEqual([]);
      const fk = ds.getMetadata(Order).foreignKeys.find((f) => f.referencedEntityMetadata.target === Store)!;
      expect(fk.columnNames.sort()).toEqual(['storeId', 'tenant_id']);
      expect(tenancy.citusPlan()).toEqual({
        statements: [
          "SELECT create_reference_table('c_tenants')",
          "SELECT create_reference_table('c_countries')",
          "SELECT create_distributed_table('c_stores', 'tenant_id')",
          "SELECT create_distributed_table('c_orders', 'tenant_id', colocate_with => 'c_stores')",
        ],
        warnings: [],
      });
      const [a, b] = await ds.manager.save(CTenant, [{}, {}]);
      const store = await tenancy.manager(a!.id).save(new Store());
      await tenancy.manager(a!.id).save(Object.assign(new Order(), { store }));
      await expect(tenancy.manager(b!.id).save(Object.assign(new Order(), { store }))).rejects.toBeInstanceOf(TenantMismatchError);
      await expect(ds.query('INSERT INTO c_orders (tenant_id, "storeId") VALUES ($1, $2)', [b!.id, store.id])).rejects.toThrow(/foreign key/);
    } finally {
      await ds.destroy();
      await db.drop();
    }
  });
});
