import {
  Between,
  type FindOptionsWhere,
  In,
  IsNull,
  LessThan,
  LessThanOrEqual,
  Like,
  MoreThan,
  MoreThanOrEqual,
  Not,
} from 'typeorm';
import type { ProofItem, ProofNote } from '../fixtures/proof-entities.js';

/**
 * The in-memory model of the property test: every row of every tenant, and a
 * small where-language that is both rendered as TypeORM find options and
 * evaluated against the model, with SQL's semantics.
 */

/** A tenant by index (0, 1, 2); `ids.tenants[t]` is its database id. */
export type T = 0 | 1 | 2;

export interface ItemRow {
  id: number;
  t: T;
  label: string;
  qty: number;
  ownerId: number | null;
  deleted: boolean;
}
export interface NoteRow {
  id: number;
  t: T;
  body: string;
  itemId: number | null;
}
export interface SettingRow {
  key: string;
  t: T;
  value: string;
}

/** Database ids the specs refer to by index. */
export interface Ids {
  tenants: number[];
  owners: number[];
  ownerNames: string[];
}

export class Model {
  items = new Map<number, ItemRow>();
  notes = new Map<number, NoteRow>();
  settings = new Map<string, SettingRow>();

  clone(): Model {
    const copy = new Model();
    for (const [k, v] of this.items) copy.items.set(k, { ...v });
    for (const [k, v] of this.notes) copy.notes.set(k, { ...v });
    for (const [k, v] of this.settings) copy.settings.set(k, { ...v });
    return copy;
  }

  replaceWith(other: Model): void {
    this.items = other.items;
    this.notes = other.notes;
    this.settings = other.settings;
  }

  /** Every item id of every tenant, ascending. */
  allItemIds(): number[] {
    return [...this.items.keys()].sort((a, b) => a - b);
  }

  ownItems(t: T, withDeleted: boolean): ItemRow[] {
    return [...this.items.values()].filter((r) => r.t === t && (withDeleted || !r.deleted)).sort((a, b) => a.id - b.id);
  }

  ownNotes(t: T): NoteRow[] {
    return [...this.notes.values()].filter((n) => n.t === t).sort((a, b) => a.id - b.id);
  }

  ownSettings(t: T): SettingRow[] {
    return [...this.settings.values()].filter((s) => s.t === t).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** The item a note of tenant `viewer` shows through its relation: same tenant only, soft-deleted only with withDeleted. */
  visibleItem(viewer: T, itemId: number | null, withDeleted: boolean): ItemRow | undefined {
    if (itemId === null) return undefined;
    const item = this.items.get(itemId);
    return item && item.t === viewer && (withDeleted || !item.deleted) ? item : undefined;
  }

  /** One line per row of every tenant: compared with what the raw connection reads. */
  snapshotLines(ids: Ids): string[] {
    const lines: string[] = [];
    for (const r of this.items.values()) lines.push(itemLine(r.id, ids.tenants[r.t]!, r.label, r.qty, r.ownerId, r.deleted));
    for (const n of this.notes.values()) lines.push(noteLine(n.id, ids.tenants[n.t]!, n.body, n.itemId));
    for (const s of this.settings.values()) lines.push(settingLine(s.key, ids.tenants[s.t]!, s.value));
    return lines.sort();
  }
}

export const itemLine = (id: number, tenant: number, label: string, qty: number, ownerId: number | null, deleted: boolean) =>
  `item ${id} tenant=${tenant} label=${label} qty=${qty} owner=${ownerId ?? '-'}${deleted ? ' deleted' : ''}`;
export const noteLine = (id: number, tenant: number, body: string, itemId: number | null) => `note ${id} tenant=${tenant} body=${body} item=${itemId ?? '-'}`;
export const settingLine = (key: string, tenant: number, value: string) => `setting ${key} tenant=${tenant} value=${value}`;

/** Reads every row of every tenant in one statement through a raw (unscoped) query. */
export function snapshotSql(escape: (name: string) => string): string {
  const q = escape;
  return [
    `SELECT 'i' AS k, ${q('id')} AS n, ${q('tenant_id')} AS t, ${q('label')} AS s, ${q('qty')} AS q, ${q('ownerId')} AS r, CASE WHEN ${q('deletedAt')} IS NULL THEN 0 ELSE 1 END AS d FROM ${q('proof_items')}`,
    `SELECT 'n', ${q('id')}, ${q('tenant_id')}, ${q('body')}, NULL, ${q('itemId')}, 0 FROM ${q('proof_notes')}`,
    `SELECT 's', NULL, ${q('tenant_id')}, ${q('key')} || '=' || ${q('value')}, NULL, NULL, 0 FROM ${q('proof_settings')}`,
  ].join(' UNION ALL ');
}

export interface SnapshotRow {
  k: string;
  n: number | null;
  t: number;
  s: string;
  q: number | null;
  r: number | null;
  d: number;
}

export function snapshotLinesFromRows(rows: SnapshotRow[]): string[] {
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return rows
    .map((row) => {
      const t = Number(row.t);
      if (row.k === 'i') return itemLine(Number(row.n), t, row.s, Number(row.q), num(row.r), Number(row.d) === 1);
      if (row.k === 'n') return noteLine(Number(row.n), t, row.s, num(row.r));
      const at = row.s.indexOf('=');
      return settingLine(row.s.slice(0, at), t, row.s.slice(at + 1));
    })
    .sort();
}

// ---------------------------------------------------------------- where language

export type StrOp = { op: 'eq' | 'not'; v: string } | { op: 'in'; vs: string[] } | { op: 'like'; v: 'a%' | '%b' };
export type NumOp =
  | { op: 'eq' | 'not' | 'gt' | 'lt' | 'gte' | 'lte'; v: number }
  | { op: 'in'; vs: number[] }
  | { op: 'between'; v: number; w: number };
/** Ids are picked at run time from the model's rows (every tenant's, plus one that does not exist). */
export type IdOp = { op: 'eq'; pick: number } | { op: 'in'; picks: number[] };
export type OwnerOp = { op: 'null' } | { op: 'notnull' } | { op: 'eq'; owner: 0 | 1 };

/** One object of a find `where` (its parts are ANDed); an array of them is ORed. */
export interface ItemCond {
  label?: StrOp;
  qty?: NumOp;
  id?: IdOp;
  owner?: OwnerOp;
  /** `tenantId: <that tenant's id>` in the where: never widens the scope. */
  tenant?: T;
  /** `notes: { body }`: a join through a one-to-many relation. */
  notesBody?: string;
  /** `owner: { name }`: a join to the shared entity. */
  ownerName?: 0 | 1;
}
export type ItemWhere = ItemCond | ItemCond[];

export interface NoteCond {
  body?: StrOp;
  item?: ItemRef;
  /** `item: { label }`: a join to a scoped entity the note may not be allowed to see. */
  itemLabel?: string;
  tenant?: T;
}
export type NoteWhere = NoteCond | NoteCond[];

/** An item a note points at: any tenant's (by pick), one of the note's tenant's own, or none. */
export type ItemRef = { pick: number } | { own: number } | { none: true };

/** The item id of a reference for tenant `t` (an own pick falls back to any pick when `t` has no items). */
export function resolveRef(model: Model, ref: ItemRef, t: T): number | null {
  if ('none' in ref) return null;
  if ('own' in ref) {
    const rows = model.ownItems(t, true);
    return rows.length > 0 ? rows[ref.own % rows.length]!.id : resolvePick(model, ref.own);
  }
  return resolvePick(model, ref.pick);
}

/** Turns an id pick into an id: an existing row of any tenant, or (one slot in n+1) an id no row has. */
export function resolvePick(model: Model, pick: number): number {
  const all = model.allItemIds();
  const slot = pick % (all.length + 1);
  return slot === all.length ? 900_000 + (pick % 97) : all[slot]!;
}

function strMatches(value: string, op: StrOp): boolean {
  switch (op.op) {
    case 'eq':
      return value === op.v;
    case 'not':
      return value !== op.v;
    case 'in':
      return op.vs.includes(value);
    case 'like':
      return op.v === 'a%' ? value.startsWith('a') : value.endsWith('b');
  }
}

function numMatches(value: number, op: NumOp): boolean {
  switch (op.op) {
    case 'eq':
      return value === op.v;
    case 'not':
      return value !== op.v;
    case 'gt':
      return value > op.v;
    case 'lt':
      return value < op.v;
    case 'gte':
      return value >= op.v;
    case 'lte':
      return value <= op.v;
    case 'in':
      return op.vs.includes(value);
    case 'between':
      return value >= op.v && value <= op.w;
  }
}

function idsOf(model: Model, op: IdOp): number[] {
  return op.op === 'eq' ? [resolvePick(model, op.pick)] : op.picks.map((p) => resolvePick(model, p));
}

/** TypeORM drops empty objects from an OR array; an array of only empty objects is no condition. */
function orOf<C extends object>(where: C | C[]): C[] {
  if (!Array.isArray(where)) return [where];
  const conds = where.filter((c) => Object.keys(c).length > 0);
  return conds.length > 0 ? conds : [{} as C];
}

export function itemMatches(model: Model, ids: Ids, row: ItemRow, where: ItemWhere): boolean {
  const conds = orOf(where);
  return conds.some((c) => {
    if (c.label && !strMatches(row.label, c.label)) return false;
    if (c.qty && !numMatches(row.qty, c.qty)) return false;
    if (c.id && !idsOf(model, c.id).includes(row.id)) return false;
    if (c.owner) {
      if (c.owner.op === 'null' && row.ownerId !== null) return false;
      if (c.owner.op === 'notnull' && row.ownerId === null) return false;
      if (c.owner.op === 'eq' && row.ownerId !== ids.owners[c.owner.owner]) return false;
    }
    if (c.tenant !== undefined && c.tenant !== row.t) return false;
    if (c.notesBody !== undefined && !model.ownNotes(row.t).some((n) => n.itemId === row.id && n.body === c.notesBody)) return false;
    if (c.ownerName !== undefined && (row.ownerId === null || row.ownerId !== ids.owners[c.ownerName])) return false;
    return true;
  });
}

export function noteMatches(model: Model, row: NoteRow, where: NoteWhere, withDeleted: boolean): boolean {
  const conds = orOf(where);
  return conds.some((c) => {
    if (c.body && !strMatches(row.body, c.body)) return false;
    if (c.item && row.itemId !== resolveRef(model, c.item, row.t)) return false;
    if (c.itemLabel !== undefined && model.visibleItem(row.t, row.itemId, withDeleted)?.label !== c.itemLabel) return false;
    if (c.tenant !== undefined && c.tenant !== row.t) return false;
    return true;
  });
}

function strFind(op: StrOp) {
  switch (op.op) {
    case 'eq':
      return op.v;
    case 'not':
      return Not(op.v);
    case 'in':
      return In(op.vs);
    case 'like':
      return Like(op.v);
  }
}

function numFind(op: NumOp) {
  switch (op.op) {
    case 'eq':
      return op.v;
    case 'not':
      return Not(op.v);
    case 'gt':
      return MoreThan(op.v);
    case 'lt':
      return LessThan(op.v);
    case 'gte':
      return MoreThanOrEqual(op.v);
    case 'lte':
      return LessThanOrEqual(op.v);
    case 'in':
      return In(op.vs);
    case 'between':
      return Between(op.v, op.w);
  }
}

export function itemFind(model: Model, ids: Ids, where: ItemWhere): FindOptionsWhere<ProofItem> | FindOptionsWhere<ProofItem>[] {
  const one = (c: ItemCond): FindOptionsWhere<ProofItem> => {
    const w: Record<string, unknown> = {};
    if (c.label) w.label = strFind(c.label);
    if (c.qty) w.qty = numFind(c.qty);
    if (c.id) w.id = c.id.op === 'eq' ? resolvePick(model, c.id.pick) : In(idsOf(model, c.id));
    if (c.owner) w.ownerId = c.owner.op === 'null' ? IsNull() : c.owner.op === 'notnull' ? Not(IsNull()) : ids.owners[c.owner.owner];
    if (c.tenant !== undefined) w.tenantId = ids.tenants[c.tenant];
    if (c.notesBody !== undefined) w.notes = { body: c.notesBody };
    if (c.ownerName !== undefined) w.owner = { name: ids.ownerNames[c.ownerName] };
    return w as FindOptionsWhere<ProofItem>;
  };
  return Array.isArray(where) ? where.map(one) : one(where);
}

export function noteFind(model: Model, ids: Ids, where: NoteWhere, viewer: T): FindOptionsWhere<ProofNote> | FindOptionsWhere<ProofNote>[] {
  const one = (c: NoteCond): FindOptionsWhere<ProofNote> => {
    const w: Record<string, unknown> = {};
    if (c.body) w.body = strFind(c.body);
    if (c.item) {
      const id = resolveRef(model, c.item, viewer);
      w.itemId = id === null ? IsNull() : id;
    }
    if (c.itemLabel !== undefined) w.item = { label: c.itemLabel };
    if (c.tenant !== undefined) w.tenantId = ids.tenants[c.tenant];
    return w as FindOptionsWhere<ProofNote>;
  };
  return Array.isArray(where) ? where.map(one) : one(where);
}

export interface ItemOrder {
  key: 'id' | 'qty' | 'label';
  dir: 'ASC' | 'DESC';
}

export function itemOrderFind(order: ItemOrder): Record<string, 'ASC' | 'DESC'> {
  return order.key === 'id' ? { id: order.dir } : { [order.key]: order.dir, id: 'ASC' };
}

export function sortItems(rows: ItemRow[], order: ItemOrder): ItemRow[] {
  const sign = order.dir === 'ASC' ? 1 : -1;
  return [...rows].sort((a, b) => {
    const x = a[order.key];
    const y = b[order.key];
    if (x !== y) return (x < y ? -1 : 1) * sign;
    return order.key === 'id' ? 0 : a.id - b.id;
  });
}

/** Applies skip/take as SQL does. */
export function page<X>(rows: X[], skip: number | undefined, take: number | undefined): X[] {
  const from = skip ?? 0;
  return rows.slice(from, take === undefined ? undefined : from + take);
}
