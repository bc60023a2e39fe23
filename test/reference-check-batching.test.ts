import 'reflect-metadata';
import {
  Column,
  DataSource,
  DeleteDateColumn,
  Entity,
  JoinColumn,
  JoinTable,
  ManyToMany,
  ManyToOne,
  PrimaryColumn,
  PrimaryGeneratedColumn,
  QueryFailedError,
} from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Tenancy, TenancyError, TenantEntity, type TenantEntityManager, TenantMismatchError, TenantScoped, UnsafeQueryError } from '../src/index.js';
import { type RlsApp, startRlsApp } from './support/app-role.js';
import { conformanceKinds, createTestDatabase, type DatabaseKind, type TestDatabase } from './support/databases.js';
import { SqlLog } from './support/sql-log.js';

// The reference check of a write (single-column keys: the library checks references itself) asks
// the database once, whatever the number of referenced entity types, and not at all for rows it
// already checked in the transaction. Rows of two types share ids (project 1 is the tenant's,
// label 1 another tenant's, and the other way round for 2), and a text key ('1') shares its
// spelling with integer ids, so a check that mixed up types or forms would let one through.

@TenantEntity()
@Entity('rb_tenants')
class RbTenant {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
}

@TenantScoped()
@Entity('rb_projects')
class RbProject {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
  @DeleteDateColumn({ name: 'deleted_at' }) deletedAt?: Date | null;
  tenantId!: number;
}

@TenantScoped()
@Entity('rb_labels')
class RbLabel {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
  tenantId!: number;
}

/** A text primary key. */
@TenantScoped()
@Entity('rb_codes')
class RbCode {
  @PrimaryColumn({ type: 'varchar', length: 16 }) code!: string;
  tenantId!: number;
}

@TenantScoped()
@Entity('rb_tasks')
class RbTask {
  @PrimaryGeneratedColumn() id!: number;
  @Column() title!: string;
  @ManyToOne(() => RbProject, { nullable: true }) @JoinColumn({ name: 'project_id' }) project?: RbProject | null;
  @ManyToOne(() => RbLabel, { nullable: true }) @JoinColumn({ name: 'label_id' }) label?: RbLabel | null;
  @ManyToOne(() => RbCode, { nullable: true }) @JoinColumn({ name: 'code' }) code?: RbCode | null;
  @ManyToMany(() => RbLabel) @JoinTable({ name: 'rb_task_labels' }) labels?: RbLabel[];
  tenantId!: number;
}

@TenantScoped()
@Entity('rb_notes')
class RbNote {
  @PrimaryGeneratedColumn() id!: number;
  @Column() text!: string;
  @ManyToOne(() => RbTask, { nullable: true }) @JoinColumn({ name: 'task_id' }) task?: RbTask | null;
  @ManyToOne(() => RbProject, { nullable: true }) @JoinColumn({ name: 'project_id' }) project?: RbProject | null;
  tenantId!: number;
}

/** Saving a memo cascades inserts and updates into its task. */
@TenantScoped()
@Entity('rb_memos')
class RbMemo {
  @PrimaryGeneratedColumn() id!: number;
  @Column() text!: string;
  @ManyToOne(() => RbTask, { nullable: true, cascade: true }) @JoinColumn({ name: 'task_id' }) task?: RbTask | null;
  tenantId!: number;
}

const entities = [RbTenant, RbProject, RbLabel, RbCode, RbTask, RbNote, RbMemo];

type Layout = 'row' | 'rls' | 'schema';
interface Case {
  name: string;
  kind: DatabaseKind;
  layout: Layout;
}

/** What a case gives the tests: tenant 1's manager, the statements its DataSource ran, plain counts of tenant 1's storage. */
interface World {
  tenancy: Tenancy;
  log: SqlLog;
  t1: number;
  t2: number;
  /** Rows in tenant 1's storage (every row of the table under the row layouts), read with plain SQL. */
  count(table: string): Promise<number>;
  close(): Promise<void>;
}

// Ids in the storage tenant 1's queries read: its own rows and other-tenant rows (the schema
// layout's strays: the other tenant's id in the tenant's own schema must not pass either).
const OWN_PROJECT = 1;
const THEIR_PROJECT = 2;
const DELETED_PROJECT = 3;
const THEIR_LABEL = 1;
const OWN_LABEL = 2;
/** The tenant has a project and a label of this id. */
const BOTH_OWN = 3;
const OWN_CODE = 'own';
const THEIR_CODE = '1';

async function seed(query: (sql: string) => Promise<unknown>, table: (name: string) => string, q: (name: string) => string, t1: number, t2: number) {
  const cols = (...names: string[]) => names.map(q).join(', ');
  await query(`INSERT INTO ${table('rb_projects')} (${cols('id', 'name', 'tenant_id')}) VALUES (${OWN_PROJECT}, 'own', ${t1}), (${THEIR_PROJECT}, 'theirs', ${t2})`);
  await query(`INSERT INTO ${table('rb_projects')} (${cols('id', 'name', 'tenant_id', 'deleted_at')}) VALUES (${DELETED_PROJECT}, 'deleted', ${t1}, '2020-01-01 00:00:00')`);
  await query(`INSERT INTO ${table('rb_labels')} (${cols('id', 'name', 'tenant_id')}) VALUES (${THEIR_LABEL}, 'theirs', ${t2}), (${OWN_LABEL}, 'own', ${t1}), (${BOTH_OWN}, 'own too', ${t1})`);
  await query(`INSERT INTO ${table('rb_codes')} (${cols('code', 'tenant_id')}) VALUES ('${OWN_CODE}', ${t1}), ('${THEIR_CODE}', ${t2})`);
}

async function rowWorld(db: TestDatabase, log?: SqlLog) {
  const ds = new DataSource({ ...db.options, entities, synchronize: true, logger: log, logging: !!log } as never);
  const tenancy = new Tenancy(ds, { defaultManager: 'unscoped' });
  await ds.initialize();
  const [a, b] = await ds.manager.save(RbTenant, [{ name: 'a' }, { name: 'b' }]);
  const q = (name: string) => ds.driver.escape(name);
  await seed((sql) => ds.query(sql), q, q, a!.id, b!.id);
  return { ds, tenancy, t1: a!.id, t2: b!.id, q };
}

async function createWorld(c: Case): Promise<World> {
  const db = await createTestDatabase(c.kind);
  const log = new SqlLog();
  const plainCount = (ds: DataSource, table: string) => ds.query(`SELECT COUNT(*) AS n FROM ${table}`).then((rows: Array<{ n: unknown }>) => Number(rows[0]!.n));
  if (c.layout === 'row') {
    const { ds, tenancy, t1, t2, q } = await rowWorld(db, log);
    return { tenancy, log, t1, t2, count: (t) => plainCount(ds, q(t)), close: async () => (await ds.destroy(), db.drop()) };
  }
  if (c.layout === 'rls') {
    // The owner (a superuser) seeds and inspects; the Tenancy under test connects as a role the policies apply to.
    const { ds: owner, t1, t2, q } = await rowWorld(db);
    let rls: RlsApp;
    try {
      rls = await startRlsApp(owner, { entities, prefix: 'rb_app', logger: log });
    } catch (error) {
      await owner.destroy();
      await db.drop();
      throw error;
    }
    return {
      tenancy: rls.tenancy,
      log,
      t1,
      t2,
      count: (t) => plainCount(owner, q(t)),
      close: async () => {
        await rls.close();
        await owner.destroy();
        await db.drop();
      },
    };
  }
  const ds = new DataSource({ ...db.options, entities, synchronize: true, logger: log, logging: true } as never);
  const tenancy = new Tenancy(ds, { strategy: 'schema', defaultManager: 'unscoped' });
  await ds.initialize();
  const t1 = ((await tenancy.tenants.create({ name: 'a' })) as RbTenant).id;
  const t2 = ((await tenancy.tenants.create({ name: 'b' })) as RbTenant).id;
  const q = (name: string) => ds.driver.escape(name);
  const inSchema = (t: number) => (name: string) => `${q(`tenant_${t}`)}.${q(name)}`;
  // Tenant 1's schema holds its rows and strays of tenant 2; tenant 2's schema its own rows of those ids.
  await seed((sql) => ds.query(sql), inSchema(t1), q, t1, t2);
  await seed((sql) => ds.query(sql), inSchema(t2), q, t2, t2);
  return {
    tenancy,
    log,
    t1,
    t2,
    count: (t) => plainCount(ds, inSchema(t1)(t)),
    close: async () => {
      await tenancy.destroy();
      await ds.destroy();
      await db.drop();
    },
  };
}

const kinds = await conformanceKinds();
const cases: Case[] = kinds.map((kind) => ({ name: kind, kind, layout: 'row' }));
if (kinds.includes('postgres')) {
  cases.push({ name: 'postgres, row-level security', kind: 'postgres', layout: 'rls' }, { name: 'postgres, schema per tenant', kind: 'postgres', layout: 'schema' });
}

const project = (id: number) => Object.assign(new RbProject(), { id, name: `p${id}` });
const label = (id: number) => Object.assign(new RbLabel(), { id, name: `l${id}` });

/** The forms a relation value takes: a bare id, `{ id }`, an entity. */
const forms = [
  ['a bare id', (make: (id: number) => object, id: number) => id],
  ['{ id }', (_make: (id: number) => object, id: number) => ({ id })],
  ['an entity', (make: (id: number) => object, id: number) => make(id)],
] as const;

describe.each(cases)('reference check batching on $name', (c) => {
  let w: World;
  let em: TenantEntityManager;

  beforeAll(async () => {
    w = await createWorld(c);
    em = w.tenancy.manager(w.t1);
  });
  afterAll(async () => {
    await w?.close();
  });
  beforeEach(() => w.log.clear());
  /** save() with relation values in any form (TypeORM's types want entities). */
  const saveTask = (values: object) => em.save(RbTask, values as RbTask);

  /** The reference-check statements the log holds (their select aliases start with tenancy_refs_). */
  const checks = () => w.log.matching(/tenancy_refs_/);
  /** Statements before the write's first INSERT or UPDATE that read something. */
  const readsBeforeWrite = () => {
    const first = w.log.statements.findIndex((s) => /^\s*(INSERT|UPDATE)\b/i.test(s));
    return w.log.statements.slice(0, first === -1 ? undefined : first).filter((s) => /\bSELECT\b/i.test(s) && !/set_config|search_path/i.test(s) && !catalog.test(s));
  };
  /** The question before a table's first folded insert: could something let its NULL tenant column through (fold-blockers.ts)? */
  const catalog = /pg_catalog\.pg_trigger|sqlite_master/;
  const expectOneCheckThenWrite = () => {
    expect(checks()).toHaveLength(1);
    expect(readsBeforeWrite()).toEqual(checks());
  };
  // SQLite and PostgreSQL (row level, RLS) fold a one-row insert's check into the INSERT itself
  // (the tenant column read from the referenced rows); MariaDB and the schema strategy check first.
  const folds = c.kind !== 'mariadb' && c.layout !== 'schema';
  // In a PostgreSQL transaction of the caller's, a failed statement would abort it: checked first there.
  const foldsInTransaction = folds && c.kind === 'sqlite';
  // There the check also locks the rows it reads until the transaction ends (reference-query.ts,
  // checkLock): one statement per referenced type, each with the locking clause (a count cannot lock).
  const locksInTransaction = c.kind !== 'sqlite';
  const lockClause = c.kind === 'postgres' ? /FOR KEY SHARE/ : /LOCK IN SHARE MODE|FOR SHARE/;
  /** The write's INSERTs that carry their reference check. */
  const foldedInserts = () => w.log.matching(/^\s*INSERT\b[\s\S]*tenancy_ref_0/i);
  /** One statement for an insert naming rows of `tables`: the folded INSERT, or one check and the INSERT. */
  const expectCheckedInsert = (tables: string[]) => {
    if (!folds) return expectOneCheckThenWrite();
    expect(checks()).toEqual([]);
    expect(readsBeforeWrite()).toEqual([]);
    expect(foldedInserts()).toHaveLength(1);
    for (const table of tables) expect(foldedInserts()[0]).toContain(table);
  };

  it('insert, save and update naming rows of two types run one statement for the check (none of their own where the INSERT carries it)', async () => {
    await em.insert(RbTask, { title: 'insert', project: { id: OWN_PROJECT }, label: { id: OWN_LABEL } } as never);
    expectCheckedInsert(['rb_projects', 'rb_labels']);
    if (!folds) expect(checks()[0]).toMatch(/COUNT\(\*\)/);
    // The first insert into the table asked the database once (where it folds); no later one asks.
    expect(w.log.matching(catalog)).toHaveLength(folds ? 1 : 0);

    w.log.clear();
    const saved = await saveTask({ title: 'save', project: project(OWN_PROJECT), label: label(OWN_LABEL), code: { code: OWN_CODE }, labels: [label(OWN_LABEL)] });
    expectOneCheckThenWrite();
    expect(checks()[0]!.match(/COUNT\(\*\)/g)).toHaveLength(3); // projects, labels, codes: three subqueries, one statement

    w.log.clear();
    await em.update(RbTask, { id: saved.id }, { project: { id: OWN_PROJECT }, label: OWN_LABEL as never, code: OWN_CODE as never });
    expectOneCheckThenWrite();

    expect(w.log.matching(catalog)).toEqual([]);
    const row = await em.findOneOrFail(RbTask, { where: { id: saved.id }, relations: { project: true, label: true, code: true, labels: true } });
    expect([row.project?.id, row.label?.id, row.code?.code, row.labels?.map((l) => l.id)]).toEqual([OWN_PROJECT, OWN_LABEL, OWN_CODE, [OWN_LABEL]]);
  });

  it('a second write in the same transaction naming the same rows runs no check', async () => {
    await em.transaction(async (tx) => {
      await tx.insert(RbTask, { title: 'tx-1', project: { id: OWN_PROJECT }, label: { id: OWN_LABEL } } as never);
      expect(checks()).toHaveLength(foldsInTransaction ? 0 : locksInTransaction ? 2 : 1);
      if (locksInTransaction) for (const check of checks()) expect(check).toMatch(lockClause);
      expect(foldedInserts()).toHaveLength(foldsInTransaction ? 1 : 0);
      w.log.clear();
      await tx.insert(RbTask, { title: 'tx-2', project: { id: OWN_PROJECT }, label: { id: OWN_LABEL } } as never);
      await tx.save(RbTask, { title: 'tx-3', project: project(OWN_PROJECT), label: label(OWN_LABEL) } as never);
      await tx.update(RbTask, { title: 'tx-1' }, { project: { id: OWN_PROJECT }, label: { id: OWN_LABEL } } as never);
      expect(checks()).toEqual([]);
      expect(foldedInserts()).toEqual([]);
      expect(w.log.matching(/COUNT\(/)).toEqual([]);
      // Only the unknown type is asked (one type: its ids are selected directly).
      w.log.clear();
      await tx.insert(RbTask, { title: 'tx-4', project: { id: OWN_PROJECT }, label: { id: OWN_LABEL }, code: { code: OWN_CODE } } as never);
      const asked = foldsInTransaction ? foldedInserts() : checks();
      expect(asked).toHaveLength(1);
      expect(checks()).toHaveLength(foldsInTransaction ? 0 : 1);
      if (locksInTransaction) expect(asked[0]).toMatch(lockClause);
      expect(asked[0]).toMatch(/rb_codes/);
      expect(asked[0]).not.toMatch(/rb_projects|rb_labels|COUNT/);
    });
  });

  it('every way to a one-row insert checks its references: query builder, repository, save', async () => {
    const ways: Array<[string, (projectId: number) => Promise<unknown>]> = [
      ['query builder', (id) => em.createQueryBuilder().insert().into(RbTask).values({ title: 'way', project: { id } } as never).execute()],
      ['query builder, raw id', (id) => em.createQueryBuilder().insert().into(RbTask).values({ title: 'way', project: id } as never).execute()],
      ['repository insert', (id) => em.getRepository(RbTask).insert({ title: 'way', project: project(id) } as never)],
      ['repository save', (id) => em.getRepository(RbTask).save({ title: 'way', project: { id } } as never)],
      ['save of an entity', (id) => em.save(Object.assign(new RbTask(), { title: 'way', project: project(id) }))],
      ['manager insert of another scoped class', (id) => em.insert(RbNote, { text: 'way', project: { id } } as never)],
    ];
    for (const [name, write] of ways) {
      const before = await Promise.all(['rb_tasks', 'rb_notes'].map((t) => w.count(t)));
      w.log.clear();
      const error = await write(THEIR_PROJECT).then(() => undefined, (e: unknown) => e);
      expect(error, name).toBeInstanceOf(TenantMismatchError);
      expect(await Promise.all(['rb_tasks', 'rb_notes'].map((t) => w.count(t))), name).toEqual(before);
      w.log.clear();
      await write(OWN_PROJECT);
      if (folds) expect(foldedInserts(), name).toHaveLength(1);
      else expect(checks(), name).toHaveLength(1);
    }
  });

  it('a beforeInsert listener that points the row elsewhere (or adds a relation) after the plan is checked too', async () => {
    const ds = w.tenancy.dataSource;
    const listener = {
      listenTo: () => RbNote,
      beforeInsert(event: { entity?: { text?: string; project?: unknown } }) {
        if (event.entity?.text === 'switched' || event.entity?.text === 'added') event.entity.project = { id: THEIR_PROJECT };
        if (event.entity?.text === 'odd') event.entity.project = { id: `0${OWN_PROJECT}` };
      },
    };
    ds.subscribers.push(listener as never);
    try {
      const writes: Array<[string, () => Promise<unknown>]> = [
        ['switched', () => em.insert(RbNote, { text: 'switched', project: { id: OWN_PROJECT } } as never)],
        ['odd', () => em.insert(RbNote, { text: 'odd', project: { id: OWN_PROJECT } } as never)],
        // The row named no related row when the write was planned: the listener adds one.
        ['added', () => em.insert(RbNote, { text: 'added' } as never)],
        ['added, query builder', () => em.createQueryBuilder().insert().into(RbNote).values({ text: 'added' }).execute()],
        ['added, several rows', () => em.insert(RbNote, [{ text: 'added' }, { text: 'added' }] as never)],
      ];
      for (const [name, write] of writes) {
        const before = await w.count('rb_notes');
        const error = await write().then(() => undefined, (e: unknown) => e);
        expect(error, name).toBeInstanceOf(TenancyError);
        expect(await w.count('rb_notes'), name).toBe(before);
      }
      // Unchanged rows pass.
      await em.insert(RbNote, { text: 'kept', project: { id: OWN_PROJECT } } as never);
    } finally {
      ds.subscribers.splice(ds.subscribers.indexOf(listener as never), 1);
    }
  });

  // rb_memos is first written here, by save(): the question runs inside save()'s own transaction (under
  // row-level security the binding's), in a savepoint the raw SQL guard lets through; afterwards the
  // table folds like any other.
  it("a table first written by save() is asked inside save()'s transaction, and folds afterwards", async () => {
    const task = await saveTask({ title: 'for memos' });
    w.log.clear();
    await em.save(RbMemo, { text: 'first', task: { id: task.id } } as never);
    expect(w.log.matching(catalog)).toHaveLength(folds ? 1 : 0);
    w.log.clear();
    await em.insert(RbMemo, { text: 'second', task: { id: task.id } } as never);
    expect(w.log.matching(catalog)).toEqual([]);
    if (folds) expect(foldedInserts()).toHaveLength(1);
    else expect(checks()).toHaveLength(1);
    await expect(em.insert(RbMemo, { text: 'theirs', task: { id: 987_654 } } as never)).rejects.toBeInstanceOf(TenantMismatchError);
  });

  describe.each(forms)('a cascaded update of an existing row naming another tenant\'s row as %s', (_, form) => {
    it('is refused by the update it cascades into, nothing written', async () => {
      const task = await saveTask({ title: 'cascaded', project: { id: OWN_PROJECT }, label: { id: OWN_LABEL } });
      const memos = await w.count('rb_memos');
      const attempts = [
        () => em.save(RbMemo, { text: 'cascade', task: { id: task.id, title: 'moved', label: form(label, THEIR_LABEL) } } as never),
        () => em.save(RbMemo, { text: 'cascade', task: Object.assign(new RbTask(), { id: task.id, title: 'moved', project: form(project, THEIR_PROJECT) }) } as never),
        () => em.save(RbMemo, { text: 'cascade', task: { id: task.id, title: 'moved', project: form(project, 987_654) } } as never),
      ];
      for (const attempt of attempts) {
        const error = await attempt().then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(TenantMismatchError);
        const row = await em.findOneOrFail(RbTask, { where: { id: task.id }, relations: { project: true, label: true } });
        expect([row.title, row.project?.id, row.label?.id]).toEqual(['cascaded', OWN_PROJECT, OWN_LABEL]);
        expect(await w.count('rb_memos')).toBe(memos);
      }
      // The same cascade naming the tenant's own rows goes through.
      await em.save(RbMemo, { text: 'cascade', task: { id: task.id, title: 'moved', label: form(label, BOTH_OWN) } } as never);
      expect((await em.findOneOrFail(RbTask, { where: { id: task.id }, relations: { label: true } })).label?.id).toBe(BOTH_OWN);
    });
  });

  it('a beforeUpdate listener that points the row elsewhere (or adds a relation) after the check is refused', async () => {
    const task = await saveTask({ title: 'listened', label: { id: OWN_LABEL } });
    const ds = w.tenancy.dataSource;
    const listener = {
      listenTo: () => RbTask,
      beforeUpdate(event: { entity?: { title?: string; label?: unknown } }) {
        if (event.entity?.title === 'switched' || event.entity?.title === 'added') event.entity.label = { id: THEIR_LABEL };
      },
    };
    ds.subscribers.push(listener as never);
    try {
      for (const write of [
        () => em.update(RbTask, { id: task.id }, { title: 'switched', label: { id: OWN_LABEL } } as never),
        // Planned with no relation to check: the listener adds one.
        () => em.update(RbTask, { id: task.id }, { title: 'added' }),
        () => em.createQueryBuilder().update(RbTask).set({ title: 'added' }).where({ id: task.id }).execute(),
      ]) {
        const error = await write().then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(TenancyError);
      }
      const row = await em.findOneOrFail(RbTask, { where: { id: task.id }, relations: { label: true } });
      expect([row.title, row.label?.id]).toEqual(['listened', OWN_LABEL]);
    } finally {
      ds.subscribers.splice(ds.subscribers.indexOf(listener as never), 1);
    }
  });

  it('a relation given as raw SQL (a function value) is refused before any SQL, nothing written', async () => {
    const task = await saveTask({ title: 'raw', project: { id: OWN_PROJECT } });
    const theirs = () => String(THEIR_PROJECT);
    const writes: Array<() => Promise<unknown>> = [
      () => em.createQueryBuilder().insert().into(RbTask).values({ title: 'raw-sql', project: theirs } as never).execute(),
      () => em.insert(RbTask, { title: 'raw-sql', project: theirs } as never),
      () => em.insert(RbTask, { title: 'raw-sql', project: { id: theirs } } as never),
      () => em.insert(RbTask, [{ title: 'raw-sql', project: { id: OWN_PROJECT } }, { title: 'raw-sql', project: theirs }] as never),
      () => em.update(RbTask, { id: task.id }, { project: theirs } as never),
      () => em.save(RbTask, { id: task.id, title: 'raw', project: { id: theirs } } as never),
    ];
    for (const write of writes) {
      const before = await w.count('rb_tasks');
      w.log.clear();
      const error = await write().then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(UnsafeQueryError);
      expect(w.log.matching(/^\s*(INSERT|UPDATE)\b/i)).toEqual([]);
      expect(await w.count('rb_tasks')).toBe(before);
    }
    expect((await em.findOneOrFail(RbTask, { where: { id: task.id }, relations: { project: true } })).project?.id).toBe(OWN_PROJECT);
  });

  it("a refused insert inside the caller's transaction leaves the transaction usable", async () => {
    await em.transaction(async (tx) => {
      for (const write of [
        () => tx.insert(RbTask, { title: 'tx-refused', label: { id: THEIR_LABEL } } as never),
        () => tx.save(RbTask, { title: 'tx-refused', project: { id: THEIR_PROJECT } } as never),
        () => tx.insert(RbTask, { title: 'tx-refused', project: { id: OWN_PROJECT }, label: { id: THEIR_LABEL } } as never),
      ]) {
        await expect(write()).rejects.toBeInstanceOf(TenantMismatchError);
      }
      await tx.insert(RbTask, { title: 'tx-after-refusal', project: { id: OWN_PROJECT } } as never);
    });
    expect(await em.countBy(RbTask, { title: 'tx-after-refusal' })).toBe(1);
    expect(await em.countBy(RbTask, { title: 'tx-refused' })).toBe(0);
  });

  it("save([a, b]) of two classes with references runs one check statement (or none: their INSERTs carry it)", async () => {
    const task = await saveTask({ title: 'for-note', project: { id: OWN_PROJECT } });
    w.log.clear();
    const a = Object.assign(new RbTask(), { title: 'two-a', project: project(OWN_PROJECT), label: label(OWN_LABEL) });
    const b = Object.assign(new RbNote(), { text: 'two-b', task: { id: task.id }, project: { id: OWN_PROJECT } });
    await em.save([a, b]);
    if (folds) {
      // Two new rows whose references are their own foreign keys: each INSERT checks its own.
      expect(checks()).toEqual([]);
      expect(readsBeforeWrite()).toEqual([]);
      expect(foldedInserts()).toHaveLength(2);
    } else {
      expectOneCheckThenWrite();
      expect(checks()[0]!.match(/COUNT\(\*\)/g)).toHaveLength(3); // projects, labels, tasks
    }
    expect(await w.count('rb_notes')).toBeGreaterThan(0);
  });

  describe.each(forms)("another tenant's row given as %s", (_, form) => {
    const attempts: Array<[string, (em: TenantEntityManager) => Promise<unknown>]> = [
      ['first type', (m) => m.insert(RbTask, { title: 'x', project: form(project, THEIR_PROJECT), label: form(label, OWN_LABEL) } as never)],
      ['second type', (m) => m.insert(RbTask, { title: 'x', project: form(project, OWN_PROJECT), label: form(label, THEIR_LABEL) } as never)],
      ['first type, the second naming an id the tenant has of both', (m) => m.insert(RbTask, { title: 'x', project: form(project, THEIR_PROJECT), label: form(label, BOTH_OWN) } as never)],
      ['both types', (m) => m.insert(RbTask, { title: 'x', project: form(project, THEIR_PROJECT), label: form(label, THEIR_LABEL) } as never)],
      ['save, second type', (m) => m.save(RbTask, { title: 'x', project: form(project, OWN_PROJECT), label: form(label, THEIR_LABEL) } as never)],
      ['save, many-to-many', (m) => m.save(RbTask, { title: 'x', project: form(project, OWN_PROJECT), labels: [label(OWN_LABEL), label(THEIR_LABEL)] } as never)],
      ['save of two classes', (m) => m.save([Object.assign(new RbTask(), { title: 'x', label: form(label, OWN_LABEL) }), Object.assign(new RbNote(), { text: 'x', project: form(project, THEIR_PROJECT) })])],
      ['update', (m) => m.update(RbTask, { title: 'insert' }, { project: form(project, OWN_PROJECT), label: form(label, THEIR_LABEL) } as never)],
      ['a missing id', (m) => m.insert(RbTask, { title: 'x', project: form(project, 987_654), label: form(label, OWN_LABEL) } as never)],
    ];
    it.each(attempts)('%s: TenantMismatchError, nothing written', async (_case, attempt) => {
      const before = await Promise.all(['rb_tasks', 'rb_notes', 'rb_task_labels'].map((t) => w.count(t)));
      const error = await attempt(em).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(TenantMismatchError);
      expect(await Promise.all(['rb_tasks', 'rb_notes', 'rb_task_labels'].map((t) => w.count(t)))).toEqual(before);
    });
  });

  it('the error names the relation and the id, the same for a foreign and a missing id', async () => {
    const messageOf = (id: number) =>
      em.insert(RbTask, { title: 'x', project: { id: OWN_PROJECT }, label: { id } } as never).then(
        () => '',
        (e: Error) => e.message,
      );
    expect(await messageOf(THEIR_LABEL)).toContain(`RbTask.label at RbLabel ${THEIR_LABEL},`);
    expect((await messageOf(987_654)).replace('987654', String(THEIR_LABEL))).toBe(await messageOf(THEIR_LABEL));
  });

  it('a soft-deleted own row is accepted, in one statement with the other type', async () => {
    await em.insert(RbTask, { title: 'soft', project: { id: DELETED_PROJECT }, label: { id: OWN_LABEL } } as never);
    expectCheckedInsert(['rb_projects', 'rb_labels']);
  });

  it('ids do not cross types or forms: same number of another type, string forms, duplicates, text keys', async () => {
    const refused = async (write: () => Promise<unknown>, malformed = false) => {
      const before = await w.count('rb_tasks');
      const error = await write().then(() => undefined, (e: unknown) => e);
      // PostgreSQL rejects text that is no integer in the check itself (as it did before batching).
      if (malformed && c.kind === 'postgres') expect(error).toBeInstanceOf(QueryFailedError);
      else expect(error).toBeInstanceOf(TenantMismatchError);
      expect(await w.count('rb_tasks')).toBe(before);
    };
    // Project 1 is the tenant's, label 1 is not (and the other way round for 2).
    await refused(() => em.insert(RbTask, { title: 'x', project: { id: OWN_PROJECT }, label: { id: OWN_PROJECT } } as never));
    await refused(() => em.insert(RbTask, { title: 'x', project: { id: OWN_LABEL }, label: { id: OWN_LABEL } } as never));
    // String forms of ids: the same row once, another form of a foreign id, forms a database may read as a number.
    await refused(() => em.insert(RbTask, { title: 'x', project: { id: OWN_PROJECT }, label: { id: String(THEIR_LABEL) } } as never));
    await refused(() => em.save(RbTask, { title: 'x', label: { id: OWN_LABEL }, labels: [{ id: OWN_LABEL }, { id: String(OWN_LABEL) }, { id: THEIR_LABEL }] } as never));
    await refused(() => em.insert(RbTask, { title: 'x', label: { id: `0${THEIR_LABEL}` } } as never));
    await refused(() => em.insert(RbTask, { title: 'x', label: { id: `${THEIR_LABEL}abc` } } as never), true);
    await refused(() => em.insert(RbTask, { title: 'x', label: { id: `${THEIR_LABEL}.0` } } as never), true);
    // Other spellings of the tenant's own ids are refused too, as before batching (only the form the database returns passes).
    await refused(() => em.insert(RbTask, { title: 'x', label: { id: `0${OWN_LABEL}` } } as never));
    // A text key spelled like an integer id: '1' is another tenant's code; the number 1 is not a form of 'own'.
    await refused(() => em.insert(RbTask, { title: 'x', label: { id: OWN_LABEL }, code: { code: THEIR_CODE } } as never));
    await refused(() => em.insert(RbTask, { title: 'x', project: { id: OWN_PROJECT }, code: { code: Number(THEIR_CODE) } } as never));
    await refused(() => em.insert(RbTask, { title: 'x', code: { code: 0 } } as never));
    // Duplicates of the tenant's id do not make up for a foreign one (many-to-many and to-one together).
    await refused(() => em.save(RbTask, { title: 'x', label: { id: OWN_LABEL }, labels: [{ id: OWN_LABEL }, { id: THEIR_LABEL }] } as never));

    // Accepted: the same row given twice in two forms is one row.
    w.log.clear();
    await em.insert(RbTask, [
      { title: 'forms-1', project: { id: OWN_PROJECT }, label: { id: OWN_LABEL } },
      { title: 'forms-2', project: { id: String(OWN_PROJECT) }, label: { id: String(OWN_LABEL) } },
    ] as never);
    expect(checks()).toHaveLength(1);
  });

  it('a new cascaded row walked into is checked in the same statement', async () => {
    // A related object without an id is a new row: what it references is checked with the rest.
    const error = await em
      .save(RbNote, { text: 'walk', project: { id: OWN_PROJECT }, task: { title: 'new', label: { id: THEIR_LABEL } } } as never)
      .then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(TenantMismatchError);
  });

  it('relation().add / set check in one statement', async () => {
    const task = await saveTask({ title: 'relation', project: { id: OWN_PROJECT } });
    w.log.clear();
    await em.createQueryBuilder().relation(RbTask, 'labels').of(task).add([OWN_LABEL]);
    expect(checks()).toHaveLength(1);
    await expect(em.createQueryBuilder().relation(RbTask, 'labels').of(task).add([THEIR_LABEL])).rejects.toBeInstanceOf(TenantMismatchError);
    await expect(em.createQueryBuilder().relation(RbTask, 'label').of(task).set(THEIR_LABEL)).rejects.toBeInstanceOf(TenantMismatchError);
    expect((await em.findOneOrFail(RbTask, { where: { id: task.id }, relations: { labels: true, label: true } })).labels?.map((l) => l.id)).toEqual([OWN_LABEL]);
  });
});
