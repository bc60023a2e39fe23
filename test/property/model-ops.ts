import fc from 'fast-check';
import { Brackets, EntityNotFoundError, QueryFailedError } from 'typeorm';
import { TenantMismatchError, type TenantEntityManager } from '../../src/index.js';
import { ProofItem, ProofNote, ProofOwner, ProofSetting } from '../fixtures/proof-entities.js';
import {
  type Ids,
  type ItemCond,
  type ItemOrder,
  type ItemRow,
  type ItemWhere,
  itemFind,
  itemMatches,
  itemOrderFind,
  Model,
  type NoteCond,
  type NoteRow,
  type NoteWhere,
  noteFind,
  noteMatches,
  page,
  type ItemRef,
  resolvePick,
  resolveRef,
  snapshotLinesFromRows,
  type SnapshotRow,
  snapshotSql,
  sortItems,
  type StrOp,
  type T,
} from './proof-model.js';
import type { ProofWorld } from './proof-world.js';

/**
 * Operations of the model-based property test. Each spec is plain data (printed
 * by fast-check as JSON in a counterexample); `execute` runs it through a tenant
 * manager, checks the result against the model, and updates the model.
 */

type NewItem = { label: string; qty: number; owner: 0 | 1 | null };
type ItemSet = { label?: string; qty?: number; owner?: 0 | 1 | null };
type Crit = { kind: 'cond'; cond: ItemCond } | { kind: 'id'; pick: number } | { kind: 'ids'; picks: number[] };
type Bind = 'manager' | 'entity' | 'run';

type AttackKind =
  | 'insertForeign'
  | 'insertMixed'
  | 'qbInsertForeign'
  | 'saveForeign'
  | 'saveNoteForeign'
  | 'upsertForeign'
  | 'updateSetTenant'
  | 'qbUpdateSetTenant'
  | 'updateSettingTenant'
  | 'saveLoadedForeign'
  | 'removeLoadedForeign'
  | 'softRemoveLoadedForeign'
  | 'recoverLoadedForeign'
  | 'moveOwn';

type QbVariant =
  | 'innerJoinNotes'
  | 'leftJoinPage'
  | 'inSubquery'
  | 'notInSubquery'
  | 'exists'
  | 'fromSubquery'
  | 'selectSubquery'
  | 'orEscape'
  | 'bracketsEscape'
  | 'groupBy'
  | 'notesJoinItem'
  | 'notesInnerJoinItem'
  | 'manyAndCount'
  | 'tenantParam'
  | 'withDeleted'
  | 'leftJoinEntity'
  | 'rawTable';

export type Spec = { t: T; bind: Bind } & (
  | {
      k: 'find';
      method: 'find' | 'repoFind' | 'findAndCount' | 'count' | 'exists';
      where?: ItemWhere;
      order: ItemOrder;
      skip?: number;
      take?: number;
      relations?: { owner?: boolean; notes?: boolean };
      withDeleted?: boolean;
    }
  | { k: 'findBy'; method: 'findBy' | 'findAndCountBy' | 'countBy' | 'existsBy' | 'repoFindBy'; where: ItemWhere }
  | { k: 'findOne'; method: 'findOne' | 'findOneBy' | 'findOneOrFail' | 'findOneByOrFail' | 'preload'; pick: number; withDeleted?: boolean }
  | { k: 'aggregate'; fn: 'sum' | 'average' | 'minimum' | 'maximum'; where?: ItemWhere }
  | { k: 'findNotes'; where?: NoteWhere; relations: boolean; withDeleted: boolean; desc: boolean }
  | { k: 'owners'; variant: 'find' | 'findQueryStrategy' | 'qbLeftJoin' | 'relationLoad' | 'innerJoinCount'; q: number; owner: 0 | 1 }
  | { k: 'qb'; variant: QbVariant; q: number; body: string; skip: number; take: number; other: T }
  | { k: 'settings'; variant: 'find' | 'findOneBy' | 'findByIn'; keys: number[] }
  | { k: 'insert'; via: 'insert' | 'qbInsert' | 'save' | 'saveCreated'; rows: NewItem[] }
  | { k: 'saveWithNotes'; row: NewItem; notes: string[] }
  | { k: 'saveById'; pick: number; label: string; qty?: number }
  | { k: 'loadSave'; pick: number; label: string; qty: number }
  | { k: 'update'; via: 'update' | 'updateAll' | 'qbWhere' | 'qbInIds'; crit: Crit; set: ItemSet; q: number }
  | { k: 'delete' | 'softDelete' | 'restore'; via: 'manager' | 'qb'; crit: Crit; q: number }
  | { k: 'deleteAll' }
  | { k: 'incr'; dir: 'increment' | 'decrement'; crit: Crit; by: number }
  | { k: 'entityOp'; op: 'remove' | 'softRemove' | 'recover'; pick: number }
  | { k: 'stripped'; op: 'remove' | 'softRemove' | 'recover'; pick: number }
  | { k: 'insertNote'; via: 'insert' | 'save' | 'saveRelation'; body: string; item: ItemRef }
  | { k: 'updateNotes'; where: NoteCond; body: string }
  | { k: 'deleteNotes'; where: NoteCond }
  | { k: 'upsert'; rows: Array<{ key: number; value: string }> }
  | { k: 'insertSetting' | 'saveSetting' | 'updateSetting'; key: number; value: string }
  | { k: 'deleteSetting'; key: number }
  | { k: 'attack'; kind: AttackKind; other: 1 | 2; pick: number; key: number }
  | { k: 'tx'; ops: Spec[]; end: 'commit' | 'rollback'; serializable: boolean }
);

export interface Real {
  w: ProofWorld;
  ids: Ids;
  /**
   * Operations executed (a transaction's sub-operations count, the transaction itself does not),
   * and how many item reads expected at least one row (the search is not vacuous).
   */
  counter: { ops: number; itemReads: number; nonEmptyItemReads: number };
}

interface Ctx {
  em: TenantEntityManager;
  model: Model;
  real: Real;
  t: T;
  tid: number;
  inTx: boolean;
  spec: Spec;
}

// ---------------------------------------------------------------- assertions

export class ModelMismatch extends Error {
  override name = 'ModelMismatch';
}

function fail(ctx: Ctx, what: string, actual: unknown, expected: unknown): never {
  throw new ModelMismatch(
    `${what} (tenant #${ctx.t} = id ${ctx.tid}${ctx.inTx ? ', in a transaction' : ''})\n  expected: ${JSON.stringify(expected)}\n  actual:   ${JSON.stringify(actual)}`,
  );
}

function same(ctx: Ctx, what: string, actual: unknown, expected: unknown): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) fail(ctx, what, actual, expected);
}

/** Every entity a tenant manager returns must be that tenant's. */
function own(ctx: Ctx, what: string, entities: Array<{ tenantId?: unknown } | null | undefined>, unsetAllowed = false): void {
  for (const e of entities) {
    if (e && e.tenantId !== ctx.tid && !(unsetAllowed && e.tenantId === undefined)) {
      throw new ModelMismatch(`LEAK: ${what} of tenant id ${ctx.tid} returned a row of tenant ${JSON.stringify(e.tenantId)}: ${JSON.stringify(e)}`);
    }
  }
}

async function expectError<E extends Error>(ctx: Ctx, what: string, type: abstract new (...a: never[]) => E, run: () => Promise<unknown>): Promise<E> {
  let result: unknown;
  try {
    result = await run();
  } catch (error) {
    if (error instanceof type) return error;
    throw new ModelMismatch(`${what}: expected ${type.name}, got ${error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error)}`);
  }
  return fail(ctx, `${what}: expected ${type.name}, but it succeeded`, result, type.name);
}

const affected = (r: { affected?: number | null }) => r.affected ?? 0;

const itemSig = (e: ProofItem) => `${e.id}:${e.label}:${e.qty}:${e.ownerId ?? '-'}${e.deletedAt ? ':D' : ''}`;
const rowSig = (r: ItemRow) => `${r.id}:${r.label}:${r.qty}:${r.ownerId ?? '-'}${r.deleted ? ':D' : ''}`;
const noteSig = (n: { id: number; body: string; itemId: number | null }) => `${n.id}:${n.body}:${n.itemId ?? '-'}`;
const sorted = (xs: string[]) => [...xs].sort();
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

function checkItems(ctx: Ctx, what: string, rows: ProofItem[], expected: ItemRow[], relations?: { owner?: boolean; notes?: boolean }, ordered = true) {
  ctx.real.counter.itemReads++;
  if (expected.length > 0) ctx.real.counter.nonEmptyItemReads++;
  own(ctx, what, rows);
  const actual = rows.map(itemSig);
  const wanted = expected.map(rowSig);
  same(ctx, what, ordered ? actual : sorted(actual), ordered ? wanted : sorted(wanted));
  for (const row of rows) {
    if (relations?.owner) same(ctx, `${what}: owner of item ${row.id}`, row.owner?.id ?? null, row.ownerId);
    if (relations?.notes) {
      own(ctx, `${what}: notes of item ${row.id}`, row.notes);
      same(ctx, `${what}: notes of item ${row.id}`, sorted(row.notes.map(noteSig)), sorted(ctx.model.ownNotes(ctx.t).filter((n) => n.itemId === row.id).map(noteSig)));
    }
  }
}

function checkNotes(ctx: Ctx, what: string, notes: ProofNote[], expected: NoteRow[], withItem: boolean, withDeleted: boolean) {
  own(ctx, what, notes);
  same(ctx, what, notes.map(noteSig), expected.map(noteSig));
  if (!withItem) return;
  for (const note of notes) {
    own(ctx, `${what}: item of note ${note.id}`, [note.item]);
    same(ctx, `${what}: item of note ${note.id}`, note.item?.id ?? null, ctx.model.visibleItem(ctx.t, note.itemId, withDeleted)?.id ?? null);
  }
}

/** Compares every row of every tenant, read through a raw query, with the model. */
export async function checkSnapshot(query: (sql: string) => Promise<SnapshotRow[]>, model: Model, real: Real, when: string): Promise<void> {
  const actual = snapshotLinesFromRows(await query(snapshotSql((n) => real.w.dataSource.driver.escape(n))));
  const expected = model.snapshotLines(real.ids);
  if (actual.length === expected.length && actual.every((l, i) => l === expected[i])) return;
  const inDb = actual.filter((l) => !expected.includes(l));
  const inModel = expected.filter((l) => !actual.includes(l));
  throw new ModelMismatch(
    `Rows of the database differ from the model ${when}:\n  only in the database: ${JSON.stringify(inDb)}\n  only in the model:    ${JSON.stringify(inModel)}`,
  );
}

// ---------------------------------------------------------------- execution

function values(ids: Ids, row: NewItem | ItemSet): Partial<ProofItem> {
  const v: Partial<ProofItem> = {};
  if (row.label !== undefined) v.label = row.label;
  if (row.qty !== undefined) v.qty = row.qty;
  if (row.owner !== undefined) v.ownerId = row.owner === null ? null : ids.owners[row.owner]!;
  return v;
}

function addItem(ctx: Ctx, id: number, row: NewItem): void {
  if (ctx.model.items.has(id)) fail(ctx, `insert returned id ${id}, which already exists`, id, 'a new id');
  ctx.model.items.set(id, { id, t: ctx.t, label: row.label, qty: row.qty, ownerId: row.owner === null ? null : ctx.real.ids.owners[row.owner]!, deleted: false });
}

function applySet(ctx: Ctx, row: ItemRow, set: ItemSet): void {
  if (set.label !== undefined) row.label = set.label;
  if (set.qty !== undefined) row.qty = set.qty;
  if (set.owner !== undefined) row.ownerId = set.owner === null ? null : ctx.real.ids.owners[set.owner]!;
}

function critFind(ctx: Ctx, crit: Crit) {
  if (crit.kind === 'id') return resolvePick(ctx.model, crit.pick);
  if (crit.kind === 'ids') return crit.picks.map((p) => resolvePick(ctx.model, p));
  return itemFind(ctx.model, ctx.real.ids, crit.cond);
}

function critRows(ctx: Ctx, crit: Crit): ItemRow[] {
  const rows = ctx.model.ownItems(ctx.t, true);
  if (crit.kind === 'id') return rows.filter((r) => r.id === resolvePick(ctx.model, crit.pick));
  if (crit.kind === 'ids') {
    const ids = crit.picks.map((p) => resolvePick(ctx.model, p));
    return rows.filter((r) => ids.includes(r.id));
  }
  return rows.filter((r) => itemMatches(ctx.model, ctx.real.ids, r, crit.cond));
}

const keyOf = (key: number) => `k${key}`;

/**
 * Another tenant's row, loaded with the explicit bypass of this manager. (Inside a transaction
 * callback the DataSource's own manager is scoped to the transaction's tenant, so it cannot.)
 */
async function loadAnyTenant(ctx: Ctx, id: number): Promise<ProofItem> {
  const entity = await ctx.em.findOne(ProofItem, { where: { id }, withDeleted: true, safe: false });
  const row = ctx.model.items.get(id);
  if (!entity || !row || entity.tenantId !== ctx.real.ids.tenants[row.t]) fail(ctx, `findOne({ safe: false }) of item ${id}`, entity, row);
  return entity;
}

function entityOp(em: TenantEntityManager, op: 'remove' | 'softRemove' | 'recover', entity: ProofItem): Promise<unknown> {
  return op === 'remove' ? em.remove(entity) : op === 'softRemove' ? em.softRemove(entity) : em.recover(entity);
}

/** Picks one of the tenant's own item rows, or undefined when it has none. */
function ownPick(ctx: Ctx, pick: number, withDeleted: boolean): ItemRow | undefined {
  const rows = ctx.model.ownItems(ctx.t, withDeleted);
  return rows.length === 0 ? undefined : rows[pick % rows.length];
}

/** Runs one spec. Returns false when it was skipped (a transaction cannot run a statement that fails in SQL). */
export async function execute(spec: Spec, model: Model, real: Real, em?: TenantEntityManager, inTx = false): Promise<boolean> {
  const { tenancy } = real.w;
  const tid = real.ids.tenants[spec.t]!;
  if (!em) {
    if (spec.bind === 'run') return tenancy.run(tid, () => execute(spec, model, real, tenancy.current(), inTx));
    em = spec.bind === 'entity' ? tenancy.manager({ id: tid, name: 'ignored' }) : tenancy.manager(tid);
    if (em.tenantId !== tid) throw new ModelMismatch(`tenancy.manager(${tid}) is bound to ${String(em.tenantId)}`);
  }
  const ctx: Ctx = { em, model, real, t: spec.t, tid, inTx, spec };
  const done = await run(ctx);
  if (done) real.counter.ops++;
  return done;
}

async function run(ctx: Ctx): Promise<boolean> {
  const { em, model, real, spec } = ctx;
  const ids = real.ids;
  const kind = real.w.kind;
  switch (spec.k) {
    case 'find': {
      let relations = spec.relations;
      // A where on `notes` filters the joined notes too (TypeORM shares the join): compare notes only without it.
      const whereHasNotes = [spec.where ?? []].flat().some((c) => c.notesBody !== undefined);
      if (relations?.notes && whereHasNotes) relations = { ...relations, notes: false };
      const where = spec.where && itemFind(model, ids, spec.where);
      const all = sortItems(
        model.ownItems(ctx.t, !!spec.withDeleted).filter((r) => !spec.where || itemMatches(model, ids, r, spec.where)),
        spec.order,
      );
      const options = { where, order: itemOrderFind(spec.order), skip: spec.skip, take: spec.take, relations, withDeleted: spec.withDeleted };
      switch (spec.method) {
        case 'find':
          checkItems(ctx, 'find', await em.find(ProofItem, options), page(all, spec.skip, spec.take), relations);
          break;
        case 'repoFind':
          checkItems(ctx, 'getRepository().find', await em.getRepository(ProofItem).find(options), page(all, spec.skip, spec.take), relations);
          break;
        case 'findAndCount': {
          const [rows, total] = await em.findAndCount(ProofItem, options);
          checkItems(ctx, 'findAndCount rows', rows, page(all, spec.skip, spec.take), relations);
          same(ctx, 'findAndCount total', total, all.length);
          break;
        }
        case 'count':
          same(ctx, 'count', await em.count(ProofItem, { where, withDeleted: spec.withDeleted }), all.length);
          break;
        case 'exists':
          same(ctx, 'exists', await em.exists(ProofItem, { where, withDeleted: spec.withDeleted }), all.length > 0);
          break;
      }
      return true;
    }
    case 'findBy': {
      const where = itemFind(model, ids, spec.where);
      const all = model.ownItems(ctx.t, false).filter((r) => itemMatches(model, ids, r, spec.where));
      switch (spec.method) {
        case 'findBy':
          checkItems(ctx, 'findBy', await em.findBy(ProofItem, where), all, undefined, false);
          break;
        case 'repoFindBy':
          checkItems(ctx, 'getRepository().findBy', await em.getRepository(ProofItem).findBy(where), all, undefined, false);
          break;
        case 'findAndCountBy': {
          const [rows, total] = await em.findAndCountBy(ProofItem, where);
          checkItems(ctx, 'findAndCountBy', rows, all, undefined, false);
          same(ctx, 'findAndCountBy total', total, all.length);
          break;
        }
        case 'countBy':
          same(ctx, 'countBy', await em.countBy(ProofItem, where), all.length);
          break;
        case 'existsBy':
          same(ctx, 'existsBy', await em.existsBy(ProofItem, where), all.length > 0);
          break;
      }
      return true;
    }
    case 'findOne': {
      const id = resolvePick(model, spec.pick);
      const row = model.items.get(id);
      const visible = row && row.t === ctx.t && (!row.deleted || (spec.withDeleted && spec.method === 'findOne')) ? row : undefined;
      switch (spec.method) {
        case 'findOne': {
          const found = await em.findOne(ProofItem, { where: { id }, withDeleted: spec.withDeleted });
          checkItems(ctx, `findOne id ${id}`, found ? [found] : [], visible ? [visible] : []);
          break;
        }
        case 'findOneBy': {
          const found = await em.findOneBy(ProofItem, { id });
          checkItems(ctx, `findOneBy id ${id}`, found ? [found] : [], visible ? [visible] : []);
          break;
        }
        case 'findOneOrFail':
        case 'findOneByOrFail': {
          const load = () => (spec.method === 'findOneOrFail' ? em.findOneOrFail(ProofItem, { where: { id } }) : em.findOneByOrFail(ProofItem, { id }));
          if (visible) checkItems(ctx, `${spec.method} id ${id}`, [await load()], [visible]);
          else await expectError(ctx, `${spec.method} id ${id}`, EntityNotFoundError, load);
          break;
        }
        case 'preload': {
          const loaded = await em.preload(ProofItem, { id, label: 'zz' });
          own(ctx, `preload id ${id}`, [loaded]);
          same(ctx, `preload id ${id}`, loaded ? `${loaded.id}:${loaded.label}:${loaded.qty}` : null, visible ? `${visible.id}:zz:${visible.qty}` : null);
          break;
        }
      }
      return true;
    }
    case 'aggregate': {
      const rows = model.ownItems(ctx.t, false).filter((r) => !spec.where || itemMatches(model, ids, r, spec.where));
      const qtys = rows.map((r) => r.qty);
      const expected =
        qtys.length === 0
          ? null
          : spec.fn === 'sum'
            ? qtys.reduce((a, b) => a + b, 0)
            : spec.fn === 'average'
              ? qtys.reduce((a, b) => a + b, 0) / qtys.length
              : spec.fn === 'minimum'
                ? Math.min(...qtys)
                : Math.max(...qtys);
      const where = spec.where && itemFind(model, ids, spec.where);
      const actual = num(await em[spec.fn](ProofItem, 'qty', where));
      if (actual === null || expected === null ? actual !== expected : Math.abs(actual - expected) > 1e-6) fail(ctx, spec.fn, actual, expected);
      return true;
    }
    case 'findNotes': {
      const all = model.ownNotes(ctx.t).filter((n) => !spec.where || noteMatches(model, n, spec.where, spec.withDeleted));
      if (spec.desc) all.reverse();
      const notes = await em.find(ProofNote, {
        where: spec.where && noteFind(model, ids, spec.where, ctx.t),
        relations: spec.relations ? { item: true } : undefined,
        withDeleted: spec.withDeleted,
        order: { id: spec.desc ? 'DESC' : 'ASC' },
      });
      checkNotes(ctx, 'find notes', notes, all, spec.relations, spec.withDeleted);
      return true;
    }
    case 'owners': {
      const items = model.ownItems(ctx.t, false);
      const itemsOf = (ownerId: number, q = -Infinity) => items.filter((r) => r.ownerId === ownerId && r.qty >= q);
      const checkOwners = (what: string, owners: ProofOwner[], q?: number) => {
        same(ctx, `${what}: owners`, owners.map((o) => o.id), ids.owners);
        for (const o of owners) checkItems(ctx, `${what}: items of owner ${o.id}`, o.items, itemsOf(o.id, q), undefined, false);
      };
      switch (spec.variant) {
        case 'find':
          checkOwners('find owners with items', await em.find(ProofOwner, { relations: { items: true }, order: { id: 'ASC' } }));
          break;
        case 'findQueryStrategy':
          checkOwners(
            'find owners with items (relationLoadStrategy query)',
            await em.getRepository(ProofOwner).find({ relations: { items: true }, relationLoadStrategy: 'query', order: { id: 'ASC' } }),
          );
          break;
        case 'qbLeftJoin':
          checkOwners(
            'owners leftJoinAndSelect items',
            await em.createQueryBuilder(ProofOwner, 'o').leftJoinAndSelect('o.items', 'i', 'i.qty >= :q', { q: spec.q }).orderBy('o.id').getMany(),
            spec.q,
          );
          break;
        case 'relationLoad': {
          const ownerId = ids.owners[spec.owner]!;
          const loaded = await em.createQueryBuilder().relation(ProofOwner, 'items').of(ownerId).loadMany<ProofItem>();
          checkItems(ctx, `relation(Owner, items).of(${ownerId}).loadMany`, loaded, itemsOf(ownerId), undefined, false);
          break;
        }
        case 'innerJoinCount': {
          const raw = await em
            .createQueryBuilder(ProofOwner, 'o')
            .innerJoin('o.items', 'i')
            .select('o.id', 'id')
            .addSelect('COUNT(i.id)', 'c')
            .groupBy('o.id')
            .orderBy('o.id')
            .getRawMany<{ id: unknown; c: unknown }>();
          const expected = ids.owners.map((o) => [o, itemsOf(o).length]).filter(([, c]) => c! > 0);
          same(ctx, 'owners innerJoin items count', raw.map((r) => [num(r.id), num(r.c)]), expected);
          break;
        }
      }
      return true;
    }
    case 'qb':
      await runQb(ctx, spec);
      return true;
    case 'settings': {
      const mine = model.ownSettings(ctx.t);
      const sig = (s: { key: string; value: string }) => `${s.key}=${s.value}`;
      if (spec.variant === 'find') {
        const rows = await em.find(ProofSetting, { order: { key: 'ASC' } });
        own(ctx, 'find settings', rows);
        same(ctx, 'find settings', rows.map(sig), mine.map(sig));
      } else if (spec.variant === 'findOneBy') {
        const key = keyOf(spec.keys[0]!);
        const row = await em.findOneBy(ProofSetting, { key });
        own(ctx, `findOneBy setting ${key}`, [row]);
        same(ctx, `findOneBy setting ${key}`, row && sig(row), mine.filter((s) => s.key === key).map(sig)[0] ?? null);
      } else {
        const keys = spec.keys.map(keyOf);
        const rows = await em.findBy(ProofSetting, keys.map((key) => ({ key })));
        own(ctx, 'findBy settings', rows);
        same(ctx, 'findBy settings', sorted(rows.map(sig)), sorted(mine.filter((s) => keys.includes(s.key)).map(sig)));
      }
      return true;
    }
    case 'insert': {
      const rows = spec.rows.map((r) => values(ids, r));
      let newIds: number[];
      if (spec.via === 'insert') newIds = (await em.insert(ProofItem, rows)).identifiers.map((x) => Number(x.id));
      else if (spec.via === 'qbInsert') newIds = (await em.createQueryBuilder().insert().into(ProofItem).values(rows).execute()).identifiers.map((x) => Number(x.id));
      else {
        const entities = spec.via === 'save' ? rows : rows.map((r) => em.create(ProofItem, r));
        const saved = await em.save(ProofItem, entities as ProofItem[]);
        own(ctx, `${spec.via} (entities after save)`, saved);
        newIds = saved.map((e) => e.id);
      }
      same(ctx, 'inserted ids', newIds.length, spec.rows.length);
      spec.rows.forEach((r, i) => addItem(ctx, newIds[i]!, r));
      return true;
    }
    case 'saveWithNotes': {
      const entity = em.create(ProofItem, { ...values(ids, spec.row), notes: spec.notes.map((body) => em.create(ProofNote, { body })) });
      await em.save(entity);
      own(ctx, 'save with cascaded notes', [entity, ...entity.notes]);
      addItem(ctx, entity.id, spec.row);
      for (const note of entity.notes) model.notes.set(note.id, { id: note.id, t: ctx.t, body: note.body, itemId: entity.id });
      return true;
    }
    case 'saveById': {
      const id = resolvePick(model, spec.pick);
      const row = model.items.get(id);
      const foreign = !!row && row.t !== ctx.t;
      // SQLite inserts the given id (a primary-key violation); PostgreSQL's serial takes DEFAULT (a new own row).
      if (foreign && kind === 'sqlite') {
        if (ctx.inTx) return false;
        await expectError(ctx, `save({ id: ${id} }) of another tenant's id`, QueryFailedError, () => em.save(ProofItem, { id, label: spec.label }));
        return true;
      }
      const saved = await em.save(ProofItem, { id, label: spec.label, ...(spec.qty === undefined ? {} : { qty: spec.qty }) });
      // An update returns the given object (no tenantId); an insert stamps the tenant on it.
      own(ctx, `save({ id: ${id} })`, [saved], !!row && !foreign);
      if (row && !foreign) {
        same(ctx, `save({ id: ${id} }) of an own row keeps the id`, saved.id, id);
        applySet(ctx, row, { label: spec.label, qty: spec.qty });
      } else {
        if (foreign && saved.id === id) fail(ctx, `save({ id: ${id} }) took over another tenant's row`, saved, 'a new row');
        addItem(ctx, saved.id, { label: spec.label, qty: spec.qty ?? 0, owner: null });
      }
      return true;
    }
    case 'loadSave': {
      const row = ownPick(ctx, spec.pick, false);
      if (!row) return true;
      const entity = await em.findOneByOrFail(ProofItem, { id: row.id });
      own(ctx, 'findOneByOrFail before save', [entity]);
      entity.label = spec.label;
      entity.qty = spec.qty;
      await em.save(entity);
      applySet(ctx, row, { label: spec.label, qty: spec.qty });
      return true;
    }
    case 'update': {
      const set = values(ids, spec.set);
      let rows: ItemRow[];
      let result: { affected?: number | null };
      if (spec.via === 'update') {
        rows = critRows(ctx, spec.crit);
        result = await em.update(ProofItem, critFind(ctx, spec.crit) as never, set);
      } else if (spec.via === 'updateAll') {
        rows = model.ownItems(ctx.t, true);
        result = await em.updateAll(ProofItem, set);
      } else if (spec.via === 'qbWhere') {
        rows = model.ownItems(ctx.t, true).filter((r) => r.qty >= spec.q);
        result = await em.createQueryBuilder().update(ProofItem).set(set).where('qty >= :q', { q: spec.q }).execute();
      } else {
        const wanted = spec.crit.kind === 'ids' ? spec.crit.picks.map((p) => resolvePick(model, p)) : [resolvePick(model, spec.crit.kind === 'id' ? spec.crit.pick : 0)];
        rows = model.ownItems(ctx.t, true).filter((r) => wanted.includes(r.id));
        result = await em.createQueryBuilder().update(ProofItem).set(set).whereInIds(wanted).execute();
      }
      same(ctx, `update (${spec.via}) affected`, affected(result), rows.length);
      for (const row of rows) applySet(ctx, row, spec.set);
      return true;
    }
    case 'delete':
    case 'softDelete':
    case 'restore': {
      const candidates = spec.via === 'qb' ? model.ownItems(ctx.t, true).filter((r) => r.qty >= spec.q) : critRows(ctx, spec.crit);
      const rows = candidates.filter((r) => (spec.k === 'softDelete' ? !r.deleted : spec.k === 'restore' ? r.deleted : true));
      let result: { affected?: number | null };
      if (spec.via === 'manager') result = await em[spec.k](ProofItem, critFind(ctx, spec.crit) as never);
      else {
        const qb = em.createQueryBuilder();
        const builder = spec.k === 'delete' ? qb.delete() : spec.k === 'softDelete' ? qb.softDelete() : qb.restore();
        result = await builder.from(ProofItem).where('qty >= :q', { q: spec.q }).execute();
      }
      same(ctx, `${spec.k} (${spec.via}) affected`, affected(result), rows.length);
      for (const row of rows) {
        if (spec.k === 'delete') model.items.delete(row.id);
        else row.deleted = spec.k === 'softDelete';
      }
      return true;
    }
    case 'deleteAll': {
      const rows = model.ownItems(ctx.t, true);
      same(ctx, 'deleteAll affected', affected(await em.deleteAll(ProofItem)), rows.length);
      for (const row of rows) model.items.delete(row.id);
      return true;
    }
    case 'incr': {
      const rows = critRows(ctx, spec.crit);
      const result = await em[spec.dir](ProofItem, critFind(ctx, spec.crit) as never, 'qty', spec.by);
      same(ctx, `${spec.dir} affected`, affected(result), rows.length);
      for (const row of rows) row.qty += spec.dir === 'increment' ? spec.by : -spec.by;
      return true;
    }
    case 'entityOp': {
      const id = resolvePick(model, spec.pick);
      const row = model.items.get(id);
      if (!row) return true;
      if (row.t !== ctx.t) {
        const foreign = await loadAnyTenant(ctx, id);
        await expectError(ctx, `${spec.op} of another tenant's loaded entity ${id}`, TenantMismatchError, () => entityOp(em, spec.op, foreign));
        return true;
      }
      const entity = await em.findOne(ProofItem, { where: { id }, withDeleted: true });
      if (!entity) fail(ctx, `findOne withDeleted of own item ${id}`, null, rowSig(row));
      own(ctx, 'findOne withDeleted', [entity]);
      await entityOp(em, spec.op, entity);
      if (spec.op === 'remove') model.items.delete(id);
      else row.deleted = spec.op === 'softRemove';
      return true;
    }
    case 'stripped': {
      // An entity with only an id (no tenant): own rows are affected, other tenants' rows never.
      const id = resolvePick(model, spec.pick);
      const row = model.items.get(id);
      const entity = Object.assign(new ProofItem(), { id });
      if (row && row.t === ctx.t) {
        await entityOp(em, spec.op, entity);
        if (spec.op === 'remove') model.items.delete(id);
        else row.deleted = spec.op === 'softRemove';
      } else {
        await entityOp(em, spec.op, entity).catch((error: unknown) => {
          if (error instanceof QueryFailedError && kind === 'postgres' && ctx.inTx) throw error;
        });
      }
      return true;
    }
    case 'insertNote': {
      const itemId = resolveRef(model, spec.item, ctx.t);
      let id: number;
      if (spec.via === 'insert') id = Number((await em.insert(ProofNote, { body: spec.body, itemId })).identifiers[0]!.id);
      else if (spec.via === 'save') {
        const saved = await em.save(ProofNote, { body: spec.body, itemId });
        own(ctx, 'saved note', [saved]);
        id = saved.id;
      } else {
        // Through the relation: pointing at a row that is not the tenant's (another tenant's or none) is refused
        // with TenantMismatchError before any write; a plain column value (itemId above) is not a relation.
        const save = () => em.save(ProofNote, { body: spec.body, item: itemId === null ? null : ({ id: itemId } as ProofItem) });
        const target = itemId === null ? undefined : model.items.get(itemId);
        if (itemId !== null && target?.t !== ctx.t) {
          await expectError(ctx, `save note with item ${itemId} of ${target ? 'another tenant' : 'no tenant'}`, TenantMismatchError, save);
          return true;
        }
        const saved = await save();
        own(ctx, 'saved note', [saved]);
        id = saved.id;
      }
      if (model.notes.has(id)) fail(ctx, `insert note returned id ${id}, which already exists`, id, 'a new id');
      model.notes.set(id, { id, t: ctx.t, body: spec.body, itemId });
      return true;
    }
    case 'updateNotes':
    case 'deleteNotes': {
      const rows = model.ownNotes(ctx.t).filter((n) => noteMatches(model, n, spec.where, false));
      const where = noteFind(model, ids, spec.where, ctx.t) as never;
      const result = spec.k === 'updateNotes' ? await em.update(ProofNote, where, { body: spec.body }) : await em.delete(ProofNote, where);
      same(ctx, `${spec.k} affected`, affected(result), rows.length);
      for (const row of rows) {
        if (spec.k === 'updateNotes') row.body = spec.body;
        else model.notes.delete(row.id);
      }
      return true;
    }
    case 'upsert': {
      await em.upsert(ProofSetting, spec.rows.map((r) => ({ key: keyOf(r.key), value: r.value })), ['key']);
      for (const r of spec.rows) {
        const existing = model.settings.get(keyOf(r.key));
        if (existing && existing.t !== ctx.t) continue; // another tenant's key: never taken over
        model.settings.set(keyOf(r.key), { key: keyOf(r.key), t: ctx.t, value: r.value });
      }
      return true;
    }
    case 'insertSetting':
    case 'saveSetting': {
      const key = keyOf(spec.key);
      const existing = model.settings.get(key);
      const conflict = spec.k === 'insertSetting' ? !!existing : !!existing && existing.t !== ctx.t;
      const write = () => (spec.k === 'insertSetting' ? em.insert(ProofSetting, { key, value: spec.value }) : em.save(ProofSetting, { key, value: spec.value }));
      if (conflict) {
        if (ctx.inTx) return false;
        await expectError(ctx, `${spec.k} of an existing key ${key}`, QueryFailedError, write);
        return true;
      }
      await write();
      model.settings.set(key, { key, t: ctx.t, value: spec.value });
      return true;
    }
    case 'updateSetting':
    case 'deleteSetting': {
      const key = keyOf(spec.key);
      const existing = model.settings.get(key);
      const mine = existing && existing.t === ctx.t ? existing : undefined;
      const result = spec.k === 'updateSetting' ? await em.update(ProofSetting, { key }, { value: spec.value }) : await em.delete(ProofSetting, { key });
      same(ctx, `${spec.k} ${key} affected`, affected(result), mine ? 1 : 0);
      if (mine && spec.k === 'updateSetting') mine.value = spec.value;
      if (mine && spec.k === 'deleteSetting') model.settings.delete(key);
      return true;
    }
    case 'attack':
      return attack(ctx, spec);
    case 'tx':
      return transaction(ctx, spec);
  }
}

async function runQb(ctx: Ctx, spec: Extract<Spec, { k: 'qb' }>): Promise<void> {
  const { em, model } = ctx;
  const items = model.ownItems(ctx.t, false);
  const notes = model.ownNotes(ctx.t);
  const notesOf = (id: number) => notes.filter((n) => n.itemId === id);
  switch (spec.variant) {
    case 'innerJoinNotes': {
      const rows = await em.createQueryBuilder(ProofItem, 'i').innerJoinAndSelect('i.notes', 'n').where('i.qty >= :q', { q: spec.q }).orderBy('i.id').addOrderBy('n.id').getMany();
      checkItems(ctx, 'innerJoinAndSelect notes', rows, items.filter((r) => r.qty >= spec.q && notesOf(r.id).length > 0), { notes: true });
      break;
    }
    case 'leftJoinPage': {
      const rows = await em.createQueryBuilder(ProofItem, 'i').leftJoinAndSelect('i.notes', 'n').orderBy('i.id').skip(spec.skip).take(spec.take).getMany();
      checkItems(ctx, 'leftJoinAndSelect notes with skip/take', rows, page(items, spec.skip, spec.take), { notes: true });
      break;
    }
    case 'inSubquery': {
      const qb = em.createQueryBuilder(ProofItem, 'i');
      const sub = qb.subQuery().select('n.itemId').from(ProofNote, 'n').where('n.body = :b').getQuery();
      const rows = await qb.where(`i.id IN ${sub}`).setParameter('b', spec.body).orderBy('i.id').getMany();
      checkItems(ctx, 'IN (subQuery of notes)', rows, items.filter((r) => notesOf(r.id).some((n) => n.body === spec.body)));
      break;
    }
    case 'notInSubquery': {
      const qb = em.createQueryBuilder(ProofItem, 'i');
      const sub = qb.subQuery().select('n.itemId').from(ProofNote, 'n').where('n.itemId IS NOT NULL').getQuery();
      const rows = await qb.where(`i.id NOT IN ${sub}`).orderBy('i.id').getMany();
      checkItems(ctx, 'NOT IN (subQuery of notes)', rows, items.filter((r) => notesOf(r.id).length === 0));
      break;
    }
    case 'exists': {
      const sub = em.createQueryBuilder(ProofNote, 'n').select('1').where('n.itemId = i.id');
      const rows = await em.createQueryBuilder(ProofItem, 'i').whereExists(sub).orderBy('i.id').getMany();
      checkItems(ctx, 'whereExists(notes)', rows, items.filter((r) => notesOf(r.id).length > 0));
      break;
    }
    case 'fromSubquery': {
      const raw = await em
        .createQueryBuilder()
        .select('COUNT(*)', 'c')
        .from((s) => s.select('n.id', 'id').from(ProofNote, 'n').where('n.body = :b', { b: spec.body }), 'sq')
        .getRawOne<{ c: unknown }>();
      same(ctx, 'COUNT(*) FROM (subquery of notes)', num(raw?.c), notes.filter((n) => n.body === spec.body).length);
      break;
    }
    case 'selectSubquery': {
      const raw = await em
        .createQueryBuilder(ProofItem, 'i')
        .select('i.id', 'id')
        .addSelect((s) => s.select('COUNT(*)').from(ProofNote, 'n').where('n.itemId = i.id'), 'c')
        .orderBy('i.id')
        .getRawMany<{ id: unknown; c: unknown }>();
      same(ctx, 'select (subquery count of notes)', raw.map((r) => [num(r.id), num(r.c)]), items.map((r) => [r.id, notesOf(r.id).length]));
      break;
    }
    case 'orEscape': {
      const count = await em.createQueryBuilder(ProofItem, 'i').where('i.label = :l', { l: 'zz' }).orWhere('1 = 1').getCount();
      same(ctx, 'where(...).orWhere("1 = 1").getCount()', count, items.length);
      break;
    }
    case 'bracketsEscape': {
      const rows = await em
        .createQueryBuilder(ProofItem, 'i')
        .where(new Brackets((b) => b.where('i.qty >= :q', { q: spec.q }).orWhere('1 = 1')))
        .orWhere('i.id > 0')
        .orderBy('i.id')
        .getMany();
      checkItems(ctx, 'Brackets with OR 1 = 1', rows, items);
      break;
    }
    case 'groupBy': {
      const raw = await em
        .createQueryBuilder(ProofItem, 'i')
        .select('i.label', 'label')
        .addSelect('SUM(i.qty)', 's')
        .addSelect('COUNT(*)', 'c')
        .groupBy('i.label')
        .getRawMany<{ label: string; s: unknown; c: unknown }>();
      const expected = new Map<string, [number, number]>();
      for (const r of items) {
        const [s, c] = expected.get(r.label) ?? [0, 0];
        expected.set(r.label, [s + r.qty, c + 1]);
      }
      same(ctx, 'GROUP BY label', sorted(raw.map((r) => `${r.label}:${num(r.s)}:${num(r.c)}`)), sorted([...expected].map(([l, [s, c]]) => `${l}:${s}:${c}`)));
      break;
    }
    case 'notesJoinItem': {
      const rows = await em.createQueryBuilder(ProofNote, 'n').leftJoinAndSelect('n.item', 'i').orderBy('n.id').getMany();
      checkNotes(ctx, 'notes leftJoinAndSelect item', rows, notes, true, false);
      break;
    }
    case 'notesInnerJoinItem': {
      const rows = await em.createQueryBuilder(ProofNote, 'n').innerJoin('n.item', 'i').where('i.qty >= :q', { q: spec.q }).orderBy('n.id').getMany();
      checkNotes(ctx, 'notes innerJoin item', rows, notes.filter((n) => (model.visibleItem(ctx.t, n.itemId, false)?.qty ?? -Infinity) >= spec.q), false, false);
      break;
    }
    case 'manyAndCount': {
      const [rows, total] = await em.createQueryBuilder(ProofItem, 'i').orderBy('i.qty', 'DESC').addOrderBy('i.id', 'ASC').skip(spec.skip).take(spec.take).getManyAndCount();
      checkItems(ctx, 'getManyAndCount rows', rows, page(sortItems(items, { key: 'qty', dir: 'DESC' }), spec.skip, spec.take));
      same(ctx, 'getManyAndCount total', total, items.length);
      break;
    }
    case 'tenantParam': {
      const rows = await em.createQueryBuilder(ProofItem, 'i').where('i.tenantId = :x', { x: ctx.real.ids.tenants[spec.other] }).orderBy('i.id').getMany();
      checkItems(ctx, `where tenantId = tenant #${spec.other}`, rows, spec.other === ctx.t ? items : []);
      break;
    }
    case 'withDeleted': {
      const rows = await em.createQueryBuilder(ProofItem, 'i').withDeleted().orderBy('i.id').getMany();
      checkItems(ctx, 'withDeleted().getMany()', rows, model.ownItems(ctx.t, true));
      break;
    }
    case 'leftJoinEntity': {
      const raw = await em
        .createQueryBuilder()
        .select('i.id', 'id')
        .from(ProofItem, 'i')
        .leftJoin(ProofNote, 'n', 'n.itemId = i.id')
        .addSelect('COUNT(n.id)', 'c')
        .groupBy('i.id')
        .getRawMany<{ id: unknown; c: unknown }>();
      same(ctx, 'leftJoin(ProofNote, n, condition) count', sorted(raw.map((r) => `${num(r.id)}:${num(r.c)}`)), sorted(items.map((r) => `${r.id}:${notesOf(r.id).length}`)));
      break;
    }
    case 'rawTable': {
      const raw = await em.createQueryBuilder().select('n.body', 'body').from('proof_notes', 'n').getRawMany<{ body: string }>();
      same(ctx, 'from("proof_notes") by table name', sorted(raw.map((r) => r.body)), sorted(notes.map((n) => n.body)));
      break;
    }
  }
}

async function attack(ctx: Ctx, spec: Extract<Spec, { k: 'attack' }>): Promise<boolean> {
  const { em, model, real } = ctx;
  const otherT = ((ctx.t + spec.other) % 3) as T;
  const other = real.ids.tenants[otherT]!;
  const key = keyOf(spec.key);
  const refused = (what: string, run: () => Promise<unknown>) => expectError(ctx, what, TenantMismatchError, run);
  const foreignRow = () => {
    const rows = model.ownItems(otherT, true);
    return rows.length === 0 ? undefined : rows[spec.pick % rows.length];
  };
  switch (spec.kind) {
    case 'insertForeign':
      await refused('insert with another tenantId', () => em.insert(ProofItem, { label: 'evil', tenantId: other }));
      break;
    case 'insertMixed':
      await refused('insert of [own, foreign]', () => em.insert(ProofItem, [{ label: 'ok' }, { label: 'evil', tenantId: other }]));
      break;
    case 'qbInsertForeign':
      await refused('insert().values() with another tenantId', () => em.createQueryBuilder().insert().into(ProofItem).values({ label: 'evil', tenantId: other }).execute());
      break;
    case 'saveForeign':
      await refused('save with another tenantId', () => em.save(ProofItem, { label: 'evil', tenantId: other }));
      break;
    case 'saveNoteForeign':
      await refused('save note with another tenantId', () => em.save(ProofNote, { body: 'evil', tenantId: other }));
      break;
    case 'upsertForeign':
      await refused('upsert with another tenantId', () => em.upsert(ProofSetting, { key, value: 'evil', tenantId: other }, ['key']));
      break;
    case 'updateSetTenant':
      await refused('update set tenantId', () => em.update(ProofItem, { id: resolvePick(model, spec.pick) }, { tenantId: other }));
      break;
    case 'qbUpdateSetTenant':
      await refused('update().set({ tenantId })', () => em.createQueryBuilder().update(ProofItem).set({ tenantId: other }).where('qty >= 0').execute());
      break;
    case 'updateSettingTenant':
      await refused('update setting set tenantId', () => em.update(ProofSetting, { key }, { tenantId: other }));
      break;
    case 'saveLoadedForeign':
    case 'removeLoadedForeign':
    case 'softRemoveLoadedForeign':
    case 'recoverLoadedForeign': {
      const row = foreignRow();
      if (!row) return true;
      const entity = await loadAnyTenant(ctx, row.id);
      entity.label = 'evil';
      const op = spec.kind === 'saveLoadedForeign' ? 'save' : spec.kind === 'removeLoadedForeign' ? 'remove' : spec.kind === 'softRemoveLoadedForeign' ? 'softRemove' : 'recover';
      await refused(`${op} of another tenant's loaded entity`, () => (op === 'save' ? em.save(entity) : entityOp(em, op, entity)));
      break;
    }
    case 'moveOwn': {
      const row = ownPick(ctx, spec.pick, false);
      if (!row) return true;
      const entity = await em.findOneByOrFail(ProofItem, { id: row.id });
      entity.tenantId = other;
      await refused('save of an own entity moved to another tenant', () => em.save(entity));
      break;
    }
  }
  return true;
}

class Rollback extends Error {
  override name = 'Rollback';
}

async function transaction(ctx: Ctx, spec: Extract<Spec, { k: 'tx' }>): Promise<boolean> {
  const { em, real } = ctx;
  const outer = ctx.model;
  const inner = outer.clone();
  const work = async (tx: TenantEntityManager) => {
    if (tx.tenantId !== ctx.tid) throw new ModelMismatch(`transaction manager is bound to ${String(tx.tenantId)}, not ${ctx.tid}`);
    for (const sub of spec.ops) {
      await execute({ ...sub, t: ctx.t }, inner, real, tx, true);
      // Inside: the transaction's own connection sees its writes, and every other tenant's rows unchanged.
      await checkSnapshot((sql) => tx.query(sql, [], { safe: false }), inner, real, `inside a transaction, after ${JSON.stringify(sub)}`);
      // Outside (PostgreSQL, another pooled connection): nothing uncommitted is visible.
      if (real.w.kind === 'postgres') await checkSnapshot((sql) => real.w.dataSource.manager.query(sql), outer, real, 'outside an open transaction');
    }
    if (spec.end === 'rollback') throw new Rollback('rollback');
  };
  try {
    await (spec.serializable ? em.transaction('SERIALIZABLE', work) : em.transaction(work));
    if (spec.end === 'rollback') fail(ctx, 'transaction that throws', 'committed', 'rejected');
  } catch (error) {
    if (!(error instanceof Rollback) || spec.end !== 'rollback') throw error;
  }
  if (spec.end === 'commit') outer.replaceWith(inner);
  return true;
}

// ---------------------------------------------------------------- arbitraries

const tenant = fc.constantFrom<T>(0, 1, 2);
const bind = fc.constantFrom<Bind>('manager', 'manager', 'entity', 'run');
const label = fc.constantFrom('a', 'b', 'c', 'ab');
const body = fc.constantFrom('x', 'y', 'z');
const qty = fc.integer({ min: 0, max: 9 });
const pick = fc.nat({ max: 1_000 });
const owner = fc.constantFrom<0 | 1 | null>(null, 0, 1);
const settingKey = fc.integer({ min: 0, max: 5 });

const strOp: fc.Arbitrary<StrOp> = fc.oneof(
  label.map((v) => ({ op: 'eq' as const, v })),
  label.map((v) => ({ op: 'not' as const, v })),
  fc.uniqueArray(label, { minLength: 1, maxLength: 3 }).map((vs) => ({ op: 'in' as const, vs })),
  fc.constantFrom<'a%' | '%b'>('a%', '%b').map((v) => ({ op: 'like' as const, v })),
);
const numOp = fc.oneof(
  fc.tuple(fc.constantFrom('eq', 'not', 'gt', 'lt', 'gte', 'lte') as fc.Arbitrary<'eq' | 'not' | 'gt' | 'lt' | 'gte' | 'lte'>, qty).map(([op, v]) => ({ op, v })),
  fc.uniqueArray(qty, { minLength: 1, maxLength: 3 }).map((vs) => ({ op: 'in' as const, vs })),
  fc.tuple(qty, qty).map(([a, b]) => ({ op: 'between' as const, v: Math.min(a, b), w: Math.max(a, b) })),
);
const idOp = fc.oneof(pick.map((p) => ({ op: 'eq' as const, pick: p })), fc.array(pick, { minLength: 1, maxLength: 4 }).map((picks) => ({ op: 'in' as const, picks })));
const ownerOp = fc.oneof(
  fc.constant({ op: 'null' as const }),
  fc.constant({ op: 'notnull' as const }),
  fc.constantFrom<0 | 1>(0, 1).map((o) => ({ op: 'eq' as const, owner: o })),
);

const columnPart: fc.Arbitrary<ItemCond> = fc.oneof(
  strOp.map((l) => ({ label: l })),
  numOp.map((q) => ({ qty: q })),
  idOp.map((id) => ({ id })),
  ownerOp.map((o) => ({ owner: o })),
  tenant.map((t) => ({ tenant: t })),
);
const relationPart: fc.Arbitrary<ItemCond> = fc.oneof(body.map((b) => ({ notesBody: b })), fc.constantFrom<0 | 1>(0, 1).map((o) => ({ ownerName: o })));
const merge = <X extends object>(parts: X[]) => Object.assign({}, ...parts) as X;
const itemCond = fc.array(fc.oneof({ arbitrary: columnPart, weight: 4 }, { arbitrary: relationPart, weight: 1 }), { maxLength: 2 }).map(merge);
// Aggregates over a join to a one-to-many relation count a row once per joined note (plain SQL): no `notes` part there.
const aggregateCond = fc.array(fc.oneof({ arbitrary: columnPart, weight: 4 }, { arbitrary: relationPart.filter((p) => p.notesBody === undefined), weight: 1 }), { maxLength: 2 }).map(merge);
const aggregateWhere: fc.Arbitrary<ItemWhere> = fc.oneof(aggregateCond, fc.array(aggregateCond, { minLength: 1, maxLength: 3 }));
const itemWhere: fc.Arbitrary<ItemWhere> = fc.oneof({ arbitrary: itemCond, weight: 3 }, { arbitrary: fc.array(itemCond, { minLength: 1, maxLength: 3 }), weight: 2 });
const writeCond = fc.array(columnPart, { minLength: 1, maxLength: 2 }).map(merge);
const crit: fc.Arbitrary<Crit> = fc.oneof(
  { arbitrary: writeCond.map((cond) => ({ kind: 'cond' as const, cond })), weight: 3 },
  { arbitrary: pick.map((p) => ({ kind: 'id' as const, pick: p })), weight: 2 },
  { arbitrary: fc.array(pick, { minLength: 1, maxLength: 4 }).map((picks) => ({ kind: 'ids' as const, picks })), weight: 1 },
);
const noteRef: fc.Arbitrary<ItemRef> = fc.oneof(
  { arbitrary: pick.map((p) => ({ pick: p })), weight: 3 },
  { arbitrary: pick.map((p) => ({ own: p })), weight: 3 },
  { arbitrary: fc.constant({ none: true as const }), weight: 1 },
);
const notePart: fc.Arbitrary<NoteCond> = fc.oneof(
  body.map((v): NoteCond => ({ body: { op: 'eq', v } })),
  fc.uniqueArray(body, { minLength: 1, maxLength: 2 }).map((vs): NoteCond => ({ body: { op: 'in', vs } })),
  noteRef.map((item) => ({ item })),
  label.map((l) => ({ itemLabel: l })),
  tenant.map((t) => ({ tenant: t })),
);
const noteWhere: fc.Arbitrary<NoteWhere> = fc.oneof(
  fc.array(notePart, { maxLength: 2 }).map(merge),
  fc.array(fc.array(notePart, { maxLength: 2 }).map(merge), { minLength: 1, maxLength: 2 }),
);
const noteWriteCond = fc.array(notePart.filter((p) => p.itemLabel === undefined), { minLength: 1, maxLength: 2 }).map(merge);
const order = fc.record({ key: fc.constantFrom<'id' | 'qty' | 'label'>('id', 'qty', 'label'), dir: fc.constantFrom<'ASC' | 'DESC'>('ASC', 'DESC') });
const newItem: fc.Arbitrary<NewItem> = fc.record({ label, qty, owner });
const itemSet: fc.Arbitrary<ItemSet> = fc.record({ label, qty, owner }, { requiredKeys: [] }).filter((s) => Object.keys(s).length > 0);
const opt = <X>(a: fc.Arbitrary<X>) => fc.option(a, { nil: undefined });

type Body = Spec extends infer S ? (S extends Spec ? Omit<S, 't' | 'bind'> : never) : never;

const reads: fc.Arbitrary<Body> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record(
      {
        k: fc.constant('find' as const),
        method: fc.constantFrom('find', 'find', 'repoFind', 'findAndCount', 'count', 'exists') as fc.Arbitrary<'find'>,
        where: opt(itemWhere),
        order,
        skip: opt(fc.integer({ min: 0, max: 4 })),
        take: opt(fc.integer({ min: 1, max: 5 })),
        relations: opt(fc.record({ owner: fc.boolean(), notes: fc.boolean() })),
        withDeleted: opt(fc.boolean()),
      },
      { requiredKeys: ['k', 'method', 'order'] },
    ),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('findBy' as const),
      method: fc.constantFrom('findBy', 'findAndCountBy', 'countBy', 'existsBy', 'repoFindBy') as fc.Arbitrary<'findBy'>,
      where: itemWhere,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('findOne' as const),
      method: fc.constantFrom('findOne', 'findOneBy', 'findOneOrFail', 'findOneByOrFail', 'preload') as fc.Arbitrary<'findOne'>,
      pick,
      withDeleted: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('aggregate' as const), fn: fc.constantFrom('sum', 'average', 'minimum', 'maximum') as fc.Arbitrary<'sum'>, where: opt(aggregateWhere) }, { requiredKeys: ['k', 'fn'] }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('findNotes' as const), where: opt(noteWhere), relations: fc.boolean(), withDeleted: fc.boolean(), desc: fc.boolean() }, { requiredKeys: ['k', 'relations', 'withDeleted', 'desc'] }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('owners' as const),
      variant: fc.constantFrom('find', 'findQueryStrategy', 'qbLeftJoin', 'relationLoad', 'innerJoinCount') as fc.Arbitrary<'find'>,
      q: qty,
      owner: fc.constantFrom<0 | 1>(0, 1),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      k: fc.constant('qb' as const),
      variant: fc.constantFrom<QbVariant>(
        'innerJoinNotes',
        'leftJoinPage',
        'inSubquery',
        'notInSubquery',
        'exists',
        'fromSubquery',
        'selectSubquery',
        'orEscape',
        'bracketsEscape',
        'groupBy',
        'notesJoinItem',
        'notesInnerJoinItem',
        'manyAndCount',
        'tenantParam',
        'withDeleted',
        'leftJoinEntity',
        'rawTable',
      ),
      q: qty,
      body,
      skip: fc.integer({ min: 0, max: 3 }),
      take: fc.integer({ min: 1, max: 4 }),
      other: tenant,
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('settings' as const), variant: fc.constantFrom('find', 'findOneBy', 'findByIn') as fc.Arbitrary<'find'>, keys: fc.uniqueArray(settingKey, { minLength: 1, maxLength: 3 }) }) },
);

const writes: fc.Arbitrary<Body> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('insert' as const), via: fc.constantFrom('insert', 'qbInsert', 'save', 'saveCreated') as fc.Arbitrary<'insert'>, rows: fc.array(newItem, { minLength: 1, maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('saveWithNotes' as const), row: newItem, notes: fc.array(body, { minLength: 1, maxLength: 2 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('saveById' as const), pick, label, qty: opt(qty) }, { requiredKeys: ['k', 'pick', 'label'] }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('loadSave' as const), pick, label, qty }) },
  {
    weight: 3,
    arbitrary: fc.record({ k: fc.constant('update' as const), via: fc.constantFrom('update', 'update', 'updateAll', 'qbWhere', 'qbInIds') as fc.Arbitrary<'update'>, crit, set: itemSet, q: qty }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constantFrom('delete', 'softDelete', 'softDelete', 'restore', 'restore') as fc.Arbitrary<'delete'>, via: fc.constantFrom('manager', 'manager', 'qb') as fc.Arbitrary<'manager'>, crit, q: qty }) },
  { weight: 1, arbitrary: fc.constant({ k: 'deleteAll' as const }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('incr' as const), dir: fc.constantFrom('increment', 'decrement') as fc.Arbitrary<'increment'>, crit, by: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('entityOp' as const), op: fc.constantFrom('remove', 'softRemove', 'recover') as fc.Arbitrary<'remove'>, pick }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('stripped' as const), op: fc.constantFrom('remove', 'softRemove', 'recover') as fc.Arbitrary<'remove'>, pick }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('insertNote' as const), via: fc.constantFrom('insert', 'save', 'saveRelation') as fc.Arbitrary<'insert'>, body, item: noteRef }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('updateNotes' as const), where: noteWriteCond, body }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('deleteNotes' as const), where: noteWriteCond }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('upsert' as const), rows: fc.uniqueArray(fc.record({ key: settingKey, value: label }), { minLength: 1, maxLength: 3, selector: (r) => r.key }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constantFrom('insertSetting', 'saveSetting', 'updateSetting') as fc.Arbitrary<'insertSetting'>, key: settingKey, value: label }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('deleteSetting' as const), key: settingKey }) },
);

const attacks: fc.Arbitrary<Body> = fc.record({
  k: fc.constant('attack' as const),
  kind: fc.constantFrom<AttackKind>(
    'insertForeign',
    'insertMixed',
    'qbInsertForeign',
    'saveForeign',
    'saveNoteForeign',
    'upsertForeign',
    'updateSetTenant',
    'qbUpdateSetTenant',
    'updateSettingTenant',
    'saveLoadedForeign',
    'removeLoadedForeign',
    'softRemoveLoadedForeign',
    'recoverLoadedForeign',
    'moveOwn',
  ),
  other: fc.constantFrom<1 | 2>(1, 2),
  pick,
  key: settingKey,
});

const withTenant = (b: fc.Arbitrary<Body>) => fc.tuple(tenant, bind, b).map(([t, bd, rest]) => ({ t, bind: bd, ...rest }) as Spec);
const plain = fc.oneof({ arbitrary: reads, weight: 10 }, { arbitrary: writes, weight: 9 }, { arbitrary: attacks, weight: 2 });
const txArb: fc.Arbitrary<Body> = fc.record({
  k: fc.constant('tx' as const),
  ops: fc.array(withTenant(plain), { minLength: 1, maxLength: 4 }),
  end: fc.constantFrom<'commit' | 'rollback'>('commit', 'commit', 'rollback'),
  serializable: fc.boolean(),
});

export const specArb: fc.Arbitrary<Spec> = withTenant(fc.oneof({ arbitrary: plain, weight: 12 }, { arbitrary: txArb, weight: 1 }));

// ---------------------------------------------------------------- the initial world of a run

export interface WorldSpec {
  items: Array<{ t: T; label: string; qty: number; owner: 0 | 1 | null; deleted: boolean }>;
  notes: Array<{ t: T; body: string; item: ItemRef }>;
  settings: Array<{ key: number; t: T; value: string }>;
}

export const worldArb: fc.Arbitrary<WorldSpec> = fc.record({
  items: fc.array(fc.record({ t: tenant, label, qty, owner, deleted: fc.integer({ min: 0, max: 5 }).map((x) => x === 0) }), { maxLength: 12 }),
  // Notes may point at another tenant's item: poisoned references that scoping must hide.
  notes: fc.array(fc.record({ t: tenant, body, item: noteRef }), { maxLength: 9 }),
  settings: fc.uniqueArray(fc.record({ key: settingKey, t: tenant, value: label }), { maxLength: 4, selector: (s) => s.key }),
});

/** Empties the scoped tables and writes the world through the raw manager; returns its model. */
export async function seedWorld(real: Real, world: WorldSpec): Promise<Model> {
  const { w, ids } = real;
  const m = w.dataSource.manager;
  const model = new Model();
  await w.reset();
  if (world.items.length > 0) {
    const rows = world.items.map((i) => ({
      label: i.label,
      qty: i.qty,
      ownerId: i.owner === null ? null : ids.owners[i.owner]!,
      tenantId: ids.tenants[i.t]!,
      deletedAt: i.deleted ? new Date() : null,
    }));
    // TypeORM's SQLite driver returns wrong identifiers for a multi-row insert whose first row sets a
    // @DeleteDateColumn (plain TypeORM 1.1.1, no tenancy involved): insert one row at a time there.
    const identifiers =
      w.kind === 'sqlite'
        ? await Promise.all(rows.map(async (row) => (await m.insert(ProofItem, row)).identifiers[0]!))
        : (await m.insert(ProofItem, rows)).identifiers;
    world.items.forEach((i, n) => {
      const id = Number(identifiers[n]!.id);
      model.items.set(id, { id, t: i.t, label: i.label, qty: i.qty, ownerId: rows[n]!.ownerId, deleted: i.deleted });
    });
  }
  if (world.notes.length > 0) {
    const rows = world.notes.map((n) => ({ body: n.body, itemId: resolveRef(model, n.item, n.t), tenantId: ids.tenants[n.t]! }));
    const result = await m.insert(ProofNote, rows);
    world.notes.forEach((n, i) => {
      const id = Number(result.identifiers[i]!.id);
      model.notes.set(id, { id, t: n.t, body: n.body, itemId: rows[i]!.itemId });
    });
  }
  if (world.settings.length > 0) {
    await m.insert(
      ProofSetting,
      world.settings.map((s) => ({ key: keyOf(s.key), value: s.value, tenantId: ids.tenants[s.t]! })),
    );
    for (const s of world.settings) model.settings.set(keyOf(s.key), { key: keyOf(s.key), t: s.t, value: s.value });
  }
  return model;
}

/** Runs a sequence of specs from a seeded world; after every step the raw snapshot is compared with the model. */
export async function runSequence(real: Real, world: WorldSpec, specs: Spec[]): Promise<void> {
  const model = await seedWorld(real, world);
  const raw = (sql: string) => real.w.dataSource.manager.query(sql);
  await checkSnapshot(raw, model, real, 'after seeding the world');
  for (const [step, spec] of specs.entries()) {
    try {
      await execute(spec, model, real);
      await checkSnapshot(raw, model, real, 'after it');
    } catch (error) {
      if (error instanceof Error) error.message = `step ${step + 1} of ${specs.length}: ${JSON.stringify(spec)}\n${error.message}`;
      throw error;
    }
  }
}
