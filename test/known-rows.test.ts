import 'reflect-metadata';
import { Column, DataSource, Entity, JoinColumn, ManyToOne, PrimaryColumn, PrimaryGeneratedColumn, QueryFailedError, type QueryRunner } from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Tenancy, TenantEntity, TenantMismatchError, TenantScoped } from '../src/index.js';
import { conformanceKinds, createTestDatabase, type TestDatabase } from './support/databases.js';
import { SqlLog } from './support/sql-log.js';

// A reference check remembers the rows it found in the tenant, so that later checks of the same
// rows in one operation or transaction need no query (known-rows.ts). That memory may not outlive
// the operation or transaction: a row it vouched for can be deleted and its key taken by another
// tenant's row (text keys, natural keys; SQLite reuses the largest rowid without AUTOINCREMENT).
// A runner the caller holds outside a transaction — on SQLite, `createQueryRunner()` is the one
// connection every tenant shares — must not carry it from one write to the next.

@TenantEntity()
@Entity('kr_tenants')
class KrTenant {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
}

/** A natural (text) key: deleting a row frees its key for anyone. */
@TenantScoped()
@Entity('kr_owners')
class KrOwner {
  @PrimaryColumn({ type: 'varchar', length: 16 }) code!: string;
  @Column() name!: string;
  tenantId!: number;
}

@TenantScoped()
@Entity('kr_items')
class KrItem {
  @PrimaryGeneratedColumn() id!: number;
  @Column() title!: string;
  @ManyToOne(() => KrOwner, { nullable: true, onDelete: 'CASCADE' }) @JoinColumn({ name: 'owner_code' }) owner?: KrOwner | null;
  tenantId!: number;
}

/** Points at an owner with no foreign key in the database: nothing locks the owner a check found. */
@TenantScoped()
@Entity('kr_loose')
class KrLoose {
  @PrimaryGeneratedColumn() id!: number;
  @Column() title!: string;
  @ManyToOne(() => KrOwner, { nullable: true, createForeignKeyConstraints: false }) @JoinColumn({ name: 'owner_code' }) owner?: KrOwner | null;
  tenantId!: number;
}

const entities = [KrTenant, KrOwner, KrItem, KrLoose];

describe.each(await conformanceKinds())('what a reference check learned does not outlive its operation or transaction (%s)', (kind) => {
  let db: TestDatabase;
  let ds: DataSource;
  let tenancy: Tenancy;
  let a: number;
  let b: number;
  let runner: QueryRunner;
  const log = new SqlLog();

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    ds = new DataSource({ ...db.options, entities, synchronize: true, logger: log, logging: true } as never);
    tenancy = new Tenancy(ds, { defaultManager: 'unscoped' });
    await ds.initialize();
    [a, b] = (await ds.manager.save(KrTenant, [{ name: 'a' }, { name: 'b' }])).map((t) => t.id) as [number, number];
  });
  afterAll(async () => {
    if (runner && !runner.isReleased) await runner.release();
    await ds?.destroy();
    await db?.drop();
  });
  beforeEach(async () => {
    await ds.query('DELETE FROM kr_items');
    await ds.query('DELETE FROM kr_loose');
    await ds.query('DELETE FROM kr_owners');
    if (runner && !runner.isReleased) await runner.release();
    // Held by the caller across writes, outside a transaction (SQLite: the shared connection itself).
    runner = ds.createQueryRunner();
    await runner.connect();
  });

  /** Tenant a's owner 'x' is checked through writes on the held runner, then deleted; tenant b's new owner takes 'x'. */
  async function keyTakenByTheOtherTenant(learn: () => Promise<unknown>): Promise<void> {
    await tenancy.manager(a).insert(KrOwner, { code: 'x', name: 'a-owner' });
    await learn();
    await tenancy.manager(a).createQueryBuilder().delete().from(KrItem).execute();
    await tenancy.manager(a).delete(KrOwner, { code: 'x' });
    await tenancy.manager(b).insert(KrOwner, { code: 'x', name: 'b-owner' });
  }

  // Each way a write on the runner learns 'x' (two rows: the separate check, not the folded one).
  const learners: Array<[string, () => Promise<unknown>]> = [
    ['a two-row insert', () => tenancy.manager(a).createQueryBuilder(runner).insert().into(KrItem).values([{ title: 'i1', owner: { code: 'x' } }, { title: 'i2', owner: { code: 'x' } }]).execute()],
    ['an update', async () => {
      await tenancy.manager(a).insert(KrItem, { title: 'u' });
      await tenancy.manager(a).createQueryBuilder(runner).update(KrItem).set({ owner: { code: 'x' } }).where({ title: 'u' }).execute();
    }],
    ['relation().set', async () => {
      const id = (await tenancy.manager(a).insert(KrItem, { title: 'r' })).identifiers[0]!.id as number;
      await tenancy.manager(a).createQueryBuilder(runner).relation(KrItem, 'owner').of(id).set('x');
    }],
  ];

  // Each way a later write on the same runner names 'x' again.
  const writers: Array<[string, () => Promise<unknown>]> = [
    ['a two-row insert', () => tenancy.manager(a).createQueryBuilder(runner).insert().into(KrItem).values([{ title: 'w1', owner: { code: 'x' } }, { title: 'w2', owner: { code: 'x' } }]).execute()],
    ['a one-row insert', () => tenancy.manager(a).createQueryBuilder(runner).insert().into(KrItem).values({ title: 'w', owner: { code: 'x' } }).execute()],
    ['an update', async () => {
      await tenancy.manager(a).insert(KrItem, { title: 'w' });
      await tenancy.manager(a).createQueryBuilder(runner).update(KrItem).set({ owner: { code: 'x' } }).where({ title: 'w' }).execute();
    }],
    ['relation().set', async () => {
      const id = (await tenancy.manager(a).insert(KrItem, { title: 'w' })).identifiers[0]!.id as number;
      await tenancy.manager(a).createQueryBuilder(runner).relation(KrItem, 'owner').of(id).set('x');
    }],
  ];

  const pointingAtTheOtherTenant = async () => {
    const rows = (await ds.query(`SELECT i.title FROM kr_items i JOIN kr_owners o ON o.code = i.owner_code WHERE i.tenant_id = ${a} AND o.tenant_id = ${b}`)) as unknown[];
    return rows.length;
  };

  for (const [learned, learn] of learners) {
    it.each(writers)(`${learned} on the held runner, then %s naming the key again: asked again and refused`, async (_name, write) => {
      await keyTakenByTheOtherTenant(learn);
      const error = await write().then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(TenantMismatchError);
      expect(await pointingAtTheOtherTenant()).toBe(0);
    });
  }

  it('inside a transaction the memory holds (no second check for the same owner), and ends with it', async () => {
    await tenancy.manager(a).insert(KrOwner, { code: 'y', name: 'a-owner' });
    await tenancy.manager(a).transaction(async (tx) => {
      await tx.createQueryBuilder().insert().into(KrItem).values([{ title: 't1', owner: { code: 'y' } }, { title: 't2', owner: { code: 'y' } }]).execute();
      log.clear();
      await tx.createQueryBuilder().insert().into(KrItem).values([{ title: 't3', owner: { code: 'y' } }, { title: 't4', owner: { code: 'y' } }]).execute();
      expect(log.matching(/kr_owners/)).toEqual([]);
    });
    expect(await tenancy.manager(a).count(KrItem)).toBe(4);
  });

  it('a transaction of the held runner forgets at its end: a write after it asks again', async () => {
    await runner.startTransaction();
    await tenancy.manager(a).insert(KrOwner, { code: 'z', name: 'a-owner' });
    await tenancy.manager(a).createQueryBuilder(runner).insert().into(KrItem).values([{ title: 'z1', owner: { code: 'z' } }, { title: 'z2', owner: { code: 'z' } }]).execute();
    await runner.commitTransaction();
    await tenancy.manager(a).createQueryBuilder().delete().from(KrItem).execute();
    await tenancy.manager(a).delete(KrOwner, { code: 'z' });
    await tenancy.manager(b).insert(KrOwner, { code: 'z', name: 'b-owner' });
    const error = await tenancy.manager(a).createQueryBuilder(runner).insert().into(KrItem).values([{ title: 'z3', owner: { code: 'z' } }, { title: 'z4', owner: { code: 'z' } }]).execute().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(TenantMismatchError);
    expect(await pointingAtTheOtherTenant()).toBe(0);
  });
  const looseRows = (code: string) => [{ title: 'l1', owner: { code } }, { title: 'l2', owner: { code } }];
  const looseAtTheOtherTenant = async () =>
    ((await ds.query(`SELECT l.title FROM kr_loose l JOIN kr_owners o ON o.code = l.owner_code WHERE l.tenant_id = ${a} AND o.tenant_id = ${b}`)) as unknown[]).length;

  // Inside a transaction the memory is kept; a key freed meanwhile by another operation of the process
  // (through the library) ends it for every runner. On SQLite that other operation even runs inside this
  // transaction, on the one connection. (On PostgreSQL and MariaDB the transaction's check holds a shared
  // lock on the owner until it ends: a delete elsewhere waits for it — below.)
  const freers: Array<[string, (code: string) => Promise<unknown>]> = [
    ['delete()', (code) => tenancy.manager(a).delete(KrOwner, { code })],
    ['a query builder delete', (code) => tenancy.manager(a).createQueryBuilder().delete().from(KrOwner).where({ code }).execute()],
    ['remove()', async (code) => tenancy.manager(a).remove(await tenancy.manager(a).findOneByOrFail(KrOwner, { code }))],
    ['an update of the primary key', (code) => tenancy.manager(a).update(KrOwner, { code }, { code: `${code}-old` })],
  ];
  if (kind === 'sqlite') it.each(freers)('in a transaction, after %s of the owner elsewhere and the key taken by the other tenant: asked again and refused', async (_name, free) => {
    await tenancy.manager(a).insert(KrOwner, { code: 'w', name: 'a-owner' });
    const error = await tenancy.manager(a).transaction(async (tx) => {
      await tx.createQueryBuilder().insert().into(KrLoose).values(looseRows('w')).execute();
      await free('w');
      await tenancy.manager(b).insert(KrOwner, { code: 'w', name: 'b-owner' });
      await tx.createQueryBuilder().insert().into(KrLoose).values(looseRows('w')).execute();
    }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(TenantMismatchError);
    expect(await looseAtTheOtherTenant()).toBe(0);
  });

  /** Runs `fn` on a runner of its own in a transaction, rolled back and released at the end. */
  async function inTransaction<T>(fn: (runner: QueryRunner) => Promise<T>, isolation?: 'REPEATABLE READ'): Promise<T> {
    const own = ds.createQueryRunner();
    await own.startTransaction(isolation);
    try {
      return await fn(own);
    } finally {
      if (own.isTransactionActive) await own.rollbackTransaction();
      await own.release();
    }
  }

  // Two connections (not SQLite's one). A check in a transaction reads the owner as it is now and
  // locks it: it waits for a delete still open elsewhere, and refuses once that commits.
  if (kind !== 'sqlite') it('a check in a transaction waits for a delete of the owner still open elsewhere, and refuses once it commits', async () => {
    await tenancy.manager(a).insert(KrOwner, { code: 'v', name: 'a-owner' });
    const deleter = ds.createQueryRunner();
    try {
      await deleter.startTransaction();
      await tenancy.manager(a).createQueryBuilder(deleter).delete().from(KrOwner).where({ code: 'v' }).execute();
      const outcome = inTransaction((learner) =>
        tenancy.manager(a).createQueryBuilder(learner).insert().into(KrLoose).values(looseRows('v')).execute().then(() => undefined, (e: unknown) => e),
      );
      await new Promise((resolve) => setTimeout(resolve, 200)); // the check is waiting for the delete's lock
      await deleter.commitTransaction();
      await tenancy.manager(b).insert(KrOwner, { code: 'v', name: 'b-owner' });
      expect(await outcome).toBeInstanceOf(TenantMismatchError);
    } finally {
      if (deleter.isTransactionActive) await deleter.rollbackTransaction();
      await deleter.release();
    }
    expect(await looseAtTheOtherTenant()).toBe(0);
  });

  // REPEATABLE READ (MySQL's and MariaDB's default): the transaction's snapshot still shows the owner as
  // the tenant's after it was deleted and its key taken by another tenant's row. The check reads past the
  // snapshot (MariaDB: a locking read sees the latest row, the other tenant's: refused) or fails on the
  // change (PostgreSQL: a serialization error); either way nothing names the other tenant's row.
  if (kind !== 'sqlite') it('under REPEATABLE READ, an owner deleted and its key taken after the snapshot: refused, nothing written', async () => {
    await tenancy.manager(a).insert(KrOwner, { code: 'u', name: 'a-owner' });
    const error = await inTransaction(async (learner) => {
      await tenancy.manager(a).createQueryBuilder(learner).select('o.code').from(KrOwner, 'o').getRawMany(); // the snapshot
      await tenancy.manager(a).delete(KrOwner, { code: 'u' });
      await tenancy.manager(b).insert(KrOwner, { code: 'u', name: 'b-owner' });
      return tenancy.manager(a).createQueryBuilder(learner).insert().into(KrLoose).values(looseRows('u')).execute().then(() => undefined, (e: unknown) => e);
    }, 'REPEATABLE READ');
    const serializationFailure = error instanceof QueryFailedError && (error.driverError as { code?: string }).code === '40001';
    expect(error instanceof TenantMismatchError || serializationFailure).toBe(true);
    expect(await looseAtTheOtherTenant()).toBe(0);
  });
});
