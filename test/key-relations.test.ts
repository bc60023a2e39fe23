import 'reflect-metadata';
import { Column, DataSource, Entity, getMetadataArgsStorage, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CompositeKeys, Tenancy, TenancyConfigError, TenantEntity, TenantMismatchError, TenantScoped } from '../src/index.js';
import { conformanceKinds, createTestDatabase, type TestDatabase } from './support/databases.js';
import { itWhen } from './support/it-when.js';

// Relations between scoped entities in every compositeKeys mode, over the same classes: given as an
// entity, as { id } or as a bare id they store the id; another tenant's or a missing id is a
// TenantMismatchError; SET NULL relations null the reference and keep tenant_id. Each DataSource
// gets the keys of its own Tenancy.

@TenantEntity()
@Entity('r_tenants')
class RTenant {
  @PrimaryGeneratedColumn() id!: number;
}

@TenantScoped()
@Entity('r_accounts')
class Account {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
  tenantId!: number;
}

@TenantScoped()
@Entity('r_invoices')
class Invoice {
  @PrimaryGeneratedColumn() id!: number;
  @Column() number!: string;
  @ManyToOne(() => Account) @JoinColumn({ name: 'account_id' }) account!: Account;
  @ManyToOne(() => Account, { nullable: true }) backup?: Account | null;
  tenantId!: number;
}

/** The relation's join column also mapped as a plain column (`accountId`), written directly. */
@TenantScoped()
@Entity('r_receipts')
class Receipt {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ name: 'account_id' }) accountId!: number;
  @ManyToOne(() => Account) @JoinColumn({ name: 'account_id' }) account!: Account;
  tenantId!: number;
}

/** A relation the database nulls when the account goes. */
@TenantScoped()
@Entity('r_notes')
class Note {
  @PrimaryGeneratedColumn() id!: number;
  @Column() text!: string;
  @ManyToOne(() => Account, { nullable: true, onDelete: 'SET NULL' }) @JoinColumn({ name: 'account_id' }) account?: Account | null;
  tenantId!: number;
}

const kinds = await conformanceKinds();
const modes: CompositeKeys[] = [false, true, 'primary'];

async function open(db: TestDatabase, mode: CompositeKeys, entities: Function[]) {
  const ds = new DataSource({ ...db.options, entities, synchronize: true } as never);
  const tenancy = new Tenancy(ds, { compositeKeys: mode, defaultManager: 'unscoped' });
  await ds.initialize();
  return { ds, tenancy };
}

type Form = [string, (account: Account) => unknown];
const forms: Form[] = [
  ['an entity', (account) => account],
  ['{ id }', (account) => ({ id: account.id })],
  ['a bare id', (account) => account.id],
];

// SQLite refuses AUTOINCREMENT in a composite primary key: 'primary' runs on PostgreSQL and MariaDB (on SQLite it is refused: below).
const runs = kinds.flatMap((kind) => modes.filter((mode) => kind !== 'sqlite' || mode !== 'primary').map((mode) => [kind, mode] as const));

describe.each(runs)('relations on %s with compositeKeys %s', (kind, mode) => {
  let db: TestDatabase;
  let ds: DataSource;
  let tenancy: Tenancy;
  let own: Account;
  let theirs: Account;
  let t1: number;
  beforeAll(async () => {
    db = await createTestDatabase(kind);
    ({ ds, tenancy } = await open(db, mode, [RTenant, Account, Invoice]));
    const [a, b] = await ds.manager.save(RTenant, [{}, {}]);
    t1 = a!.id;
    own = await tenancy.manager(a!.id).save(Account, { name: 'own' });
    theirs = await tenancy.manager(b!.id).save(Account, { name: 'theirs' });
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('has one join column per relation, and an empty schema diff', async () => {
    const metadata = ds.getMetadata(Invoice);
    expect(metadata.findRelationWithPropertyPath('account')!.joinColumns.map((c) => c.databaseName)).toEqual(['account_id']);
    expect(metadata.findRelationWithPropertyPath('backup')!.joinColumns.map((c) => c.databaseName)).toEqual(['backupId']);
    expect(ds.getMetadata(Account).primaryColumns.map((c) => c.databaseName).sort()).toEqual(mode === 'primary' ? ['id', 'tenant_id'] : ['id']);
    expect((await ds.driver.createSchemaBuilder().log()).upQueries.map((x) => x.query)).toEqual([]);
  });

  it.each(forms)('save / insert / update with the relation given as %s store the id', async (_, form) => {
    const em = tenancy.manager(t1);
    const saved = await em.save(Invoice, { number: `s-${_}`, account: form(own), backup: form(own) } as never);
    await em.insert(Invoice, { number: `i-${_}`, account: form(own), backup: form(own) } as never);
    const bare = await em.save(Invoice, { number: `u-${_}`, account: own });
    await em.update(Invoice, { id: bare.id }, { backup: form(own) } as never);
    for (const number of [`s-${_}`, `i-${_}`, `u-${_}`]) {
      const row = await em.findOneOrFail(Invoice, { where: { number }, relations: { account: true, backup: true } });
      expect([row.account.id, row.backup?.id]).toEqual([own.id, own.id]);
    }
    expect((await em.findOneOrFail(Invoice, { where: { id: (saved as unknown as Invoice).id }, relations: { backup: true } })).backup?.name).toBe('own');
    const loaded = await em.findOneByOrFail(Invoice, { id: bare.id });
    await em.save(Invoice, Object.assign(loaded, { backup: null }));
    expect((await em.findOneOrFail(Invoice, { where: { id: bare.id }, relations: { backup: true } })).backup).toBeNull();
  });

  it.each(forms)("another tenant's or a missing account, given as %s, is a TenantMismatchError", async (_, form) => {
    const em = tenancy.manager(t1);
    const existing = await em.save(Invoice, { number: 'kept', account: own });
    for (const account of [theirs, Object.assign(new Account(), { id: 987_654, name: 'missing' })]) {
      await expect(em.save(Invoice, { number: 'smuggled', account: form(account) } as never)).rejects.toBeInstanceOf(TenantMismatchError);
      await expect(em.insert(Invoice, { number: 'smuggled', account: form(account) } as never)).rejects.toBeInstanceOf(TenantMismatchError);
      await expect(em.save(Invoice, { number: 'smuggled', account: own, backup: form(account) } as never)).rejects.toBeInstanceOf(TenantMismatchError);
      await expect(em.update(Invoice, { id: existing.id }, { backup: form(account) } as never)).rejects.toBeInstanceOf(TenantMismatchError);
    }
    expect(await ds.manager.countBy(Invoice, { number: 'smuggled' })).toBe(0);
    expect((await em.findOneOrFail(Invoice, { where: { id: existing.id }, relations: { backup: true } })).backup).toBeNull();
  });

  itWhen(!!mode)('the database refuses a raw INSERT pointing at another tenant row', async () => {
    const q = (name: string) => ds.driver.escape(name);
    const insert = `INSERT INTO ${q('r_invoices')} (${q('number')}, ${q('tenant_id')}, ${q('account_id')}) VALUES ('raw', ${t1}, ${theirs.id})`;
    await expect(ds.query(insert)).rejects.toThrow(/FOREIGN KEY|foreign key/i);
  });
});

// With composite keys the database checks the reference however it is written, so an update of the
// plain join column (`accountId`) is refused too, and turned into a TenantMismatchError.
describe.each(runs.filter(([, mode]) => mode !== false))('the join column written as a plain column on %s with compositeKeys %s', (kind, mode) => {
  it("insert / update of accountId naming another tenant's account is a TenantMismatchError and writes nothing", async () => {
    const db = await createTestDatabase(kind);
    const { ds, tenancy } = await open(db, mode, [RTenant, Account, Receipt]);
    try {
      const [a, b] = await ds.manager.save(RTenant, [{}, {}]);
      const own = await tenancy.manager(a!.id).save(Account, { name: 'own' });
      const theirs = await tenancy.manager(b!.id).save(Account, { name: 'theirs' });
      const em = tenancy.manager(a!.id);
      await em.insert(Receipt, { accountId: own.id });
      const receipt = await em.findOneByOrFail(Receipt, { accountId: own.id });
      await expect(em.insert(Receipt, { accountId: theirs.id })).rejects.toBeInstanceOf(TenantMismatchError);
      await expect(em.update(Receipt, { id: receipt.id }, { accountId: theirs.id })).rejects.toBeInstanceOf(TenantMismatchError);
      await expect(em.createQueryBuilder().update(Receipt).set({ accountId: theirs.id }).where({ id: receipt.id }).execute()).rejects.toBeInstanceOf(TenantMismatchError);
      expect(await ds.manager.find(Receipt, { select: { id: true, accountId: true } })).toEqual([{ id: receipt.id, accountId: own.id }]);
    } finally {
      await ds.destroy();
      await db.drop();
    }
  });
});

describe.each(kinds)('onDelete SET NULL with composite keys on %s', (kind) => {
  it.each([true, false] as const)('compositeKeys %s: deleting the account nulls the reference and keeps tenant_id', async (mode) => {
    const db = await createTestDatabase(kind);
    const { ds, tenancy } = await open(db, mode, [RTenant, Account, Note]);
    try {
      expect((await ds.driver.createSchemaBuilder().log()).upQueries.map((x) => x.query)).toEqual([]);
      const [a, b] = await ds.manager.save(RTenant, [{}, {}]);
      const em = tenancy.manager(a!.id);
      const account = await em.save(Account, { name: 'gone' });
      const theirs = await tenancy.manager(b!.id).save(Account, { name: 'theirs' });
      const note = await em.save(Note, { text: 'n', account: { id: account.id } as Account });
      for (const form of forms) await expect(em.save(Note, { text: 'x', account: form[1](theirs) } as never)).rejects.toBeInstanceOf(TenantMismatchError);
      await em.delete(Account, { id: account.id });
      const after = await em.findOneOrFail(Note, { where: { id: note.id }, relations: { account: true } });
      expect([after.account, after.tenantId]).toEqual([null, a!.id]);
      // The database itself refuses another tenant's account where it can hold both keys (PostgreSQL).
      const q = (name: string) => ds.driver.escape(name);
      const raw = ds.query(`INSERT INTO ${q('r_notes')} (${q('text')}, ${q('tenant_id')}, ${q('account_id')}) VALUES ('raw', ${a!.id}, ${theirs.id})`);
      if (mode && kind === 'postgres') await expect(raw).rejects.toThrow(/foreign key/);
      else await raw;
    } finally {
      await ds.destroy();
      await db.drop();
    }
  });

  it("compositeKeys 'primary' refuses a SET NULL relation at initialize, saying what to use", async () => {
    const db = await createTestDatabase(kind);
    const ds = new DataSource({ ...db.options, entities: [RTenant, Account, Note] } as never);
    new Tenancy(ds, { compositeKeys: 'primary' });
    try {
      const error = await ds.initialize().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TenancyConfigError);
      expect((error as Error).message).toMatch(/Note\.account .*SET NULL.*compositeKeys: true/);
    } finally {
      if (ds.isInitialized) await ds.destroy();
      await db.drop();
    }
  });
});

it("compositeKeys 'primary' on SQLite with a generated id is refused at initialize (synchronize), saying what to use", async () => {
  const ds = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [RTenant, Account, Invoice], synchronize: true });
  new Tenancy(ds, { compositeKeys: 'primary' });
  const error = await ds.initialize().catch((e: unknown) => e);
  if (ds.isInitialized) await ds.destroy();
  expect(error).toBeInstanceOf(TenancyConfigError);
  expect((error as Error).message).toMatch(/Account has compositeKeys: 'primary' and a generated id .*compositeKeys: true/);
});

describe('key options belong to one Tenancy', () => {
  const sqlite = { type: 'better-sqlite3', database: ':memory:' } as const;
  const entities = [RTenant, Account, Invoice];
  const plain = async () => {
    const ds = await new DataSource({ ...sqlite, entities, synchronize: true }).initialize();
    const account = ds.getMetadata(Account);
    const shape = {
      primary: account.primaryColumns.map((c) => c.databaseName),
      columns: account.columns.map((c) => c.databaseName).sort(),
      uniques: account.uniques.length,
      invoiceKeys: ds.getMetadata(Invoice).foreignKeys.map((k) => k.columnNames.join()).sort(),
    };
    await ds.destroy();
    return shape;
  };
  const tenant = async (mode: CompositeKeys) => {
    const ds = new DataSource({ ...sqlite, entities });
    new Tenancy(ds, { compositeKeys: mode });
    await ds.initialize();
    const shape = {
      primary: ds.getMetadata(Account).primaryColumns.map((c) => c.databaseName).sort(),
      uniques: ds.getMetadata(Account).uniques.map((u) => u.columns.map((c) => c.databaseName).sort().join()),
      invoiceKeys: ds.getMetadata(Invoice).foreignKeys.map((k) => k.columnNames.join()).sort(),
    };
    await ds.destroy();
    return shape;
  };
  const plainShape = { primary: ['id'], columns: ['id', 'name'], uniques: 0, invoiceKeys: ['account_id', 'backupId'] };
  const shapes = {
    primary: { primary: ['id', 'tenant_id'], uniques: [], invoiceKeys: ['tenant_id', 'tenant_id,account_id', 'tenant_id,backupId'] },
    true: { primary: ['id'], uniques: ['id,tenant_id'], invoiceKeys: ['tenant_id', 'tenant_id,account_id', 'tenant_id,backupId'] },
    false: { primary: ['id'], uniques: [], invoiceKeys: ['account_id', 'backupId', 'tenant_id'] },
  };

  it('a Tenancy first, then a plain DataSource and Tenancies with other modes over the same classes', async () => {
    expect(await tenant('primary')).toEqual(shapes.primary);
    expect(await plain()).toEqual(plainShape);
    expect(await tenant(false)).toEqual(shapes.false);
    expect(await tenant(true)).toEqual(shapes.true);
    expect(await tenant('primary')).toEqual(shapes.primary);
    expect(await plain()).toEqual(plainShape);
  });

  it('a plain DataSource first, then Tenancies', async () => {
    expect(await plain()).toEqual(plainShape);
    expect(await tenant(true)).toEqual(shapes.true);
    expect(await tenant(false)).toEqual(shapes.false);
    expect(await plain()).toEqual(plainShape);
  });

  it("TypeORM's global decorator args stay as declared", () => {
    const storage = getMetadataArgsStorage();
    expect(storage.columns.filter((c) => c.target === Account).map((c) => [c.propertyName, c.options.primary ?? false])).toEqual([
      ['id', true],
      ['name', false],
    ]);
    expect(storage.uniques.filter((u) => u.target === Account)).toEqual([]);
    expect(storage.relations.filter((r) => r.target === Invoice).map((r) => r.options.createForeignKeyConstraints)).toEqual([undefined, undefined]);
    expect(storage.foreignKeys.filter((k) => k.target === Invoice || k.target === Account)).toEqual([]);
    expect(storage.joinColumns.filter((j) => j.target === Invoice).map((j) => j.referencedColumnName)).toEqual([undefined]);
  });
});
