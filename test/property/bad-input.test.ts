import { DataSource, type DataSourceOptions, QueryFailedError } from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  MissingTenantError,
  Tenancy,
  TenancyConfigError,
  TenancyError,
  type TenantEntityManager,
  TenantMismatchError,
  type TenantRef,
} from '../../src/index.js';
import { CodeDoc, codeEntities, CodeTenant, UuidDoc, uuidEntities, UuidTenant } from '../fixtures/proof-keyed-entities.js';
import { ProofItem, ProofNote, ProofSetting, ProofTenant } from '../fixtures/proof-entities.js';
import { SqlLog } from '../support/blog-world.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/databases.js';
import { snapshotLinesFromRows, type SnapshotRow, snapshotSql } from './proof-model.js';
import { createProofWorld, type ProofWorld, tenancyOptions } from './proof-world.js';

/**
 * The bad-input corpus: tenant ids of every wrong shape (for integer, uuid and
 * varchar(32) tenant keys), rows that name another tenant or change their tenant,
 * relations to other tenants' rows and a misspelled `safe` option. Each case gets a
 * typed TenancyError (or the documented behaviour), and a raw read of every tenant's
 * rows through the plain DataSource manager confirms that nothing was written.
 */

type ErrorClass = abstract new (...args: never[]) => TenancyError;

/** What a case must produce: a typed error, or a documented outcome checked by `check`. */
interface Case<C> {
  label: string;
  run: (c: C) => unknown;
  expect: ErrorClass | 'documented';
  /** For 'documented' cases: asserts the outcome (the raw check still requires that nothing else changed). */
  check?: (c: C, outcome: Outcome) => void | Promise<void>;
  /** The case writes rows on purpose (checked by `check`); the raw snapshot is then not compared. */
  writes?: boolean;
  /** No SQL may run at all (refused before the database). */
  noSql?: boolean;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

async function attempt(run: () => unknown): Promise<Outcome> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    return { ok: false, error };
  }
}

function describeError(outcome: Outcome): string {
  if (outcome.ok) return `no error (returned ${safeJson(outcome.value)})`;
  const e = outcome.error;
  return e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))?.slice(0, 200) ?? String(value);
  } catch {
    return String(value);
  }
}

async function expectOutcome<C>(c: C, kase: Case<C>, outcome: Outcome): Promise<void> {
  if (kase.expect === 'documented') {
    await kase.check!(c, outcome);
    return;
  }
  if (outcome.ok || !(outcome.error instanceof kase.expect)) {
    expect.fail(`${kase.label}: expected ${kase.expect.name}, got ${describeError(outcome)}`);
  }
  expect(outcome.error).toBeInstanceOf(TenancyError);
  expect((outcome.error as TenancyError).code).toMatch(/^TENANCY_/);
}

// ---------------------------------------------------------------- integer tenant key

interface IntCtx {
  w: ProofWorld;
  t1: number;
  t2: number;
  em1: TenantEntityManager;
  /** An item and a note of each tenant, and a setting of each tenant. */
  item1: number;
  item2: number;
  note1: number;
  key2: string;
}

/** Writes run through a manager built from the value under test: the manager itself must refuse it. */
const writeThrough = (tenant: unknown) => (c: IntCtx) => c.w.tenancy.manager(tenant as TenantRef).insert(ProofItem, { label: 'bad' });

/** Positive integers that name no tenant, and 0 or negatives: well-formed ids, so a manager is made (no query runs). */
function nonexistentTenant(id: number): Case<IntCtx> {
  return {
    label: `a well-formed integer that names no tenant (${Object.is(id, -0) ? '-0' : id}): reads see nothing, a write fails on the tenant foreign key`,
    run: async (c) => {
      const em = c.w.tenancy.manager(id);
      const read = await em.find(ProofItem, { withDeleted: true });
      const write = await attempt(() => em.insert(ProofItem, { label: 'orphan' }));
      return { read, write };
    },
    expect: 'documented',
    check: (_c, outcome) => {
      if (!outcome.ok) expect.fail(`expected a manager, got ${describeError(outcome)}`);
      const { read, write } = outcome.value as { read: ProofItem[]; write: Outcome };
      expect(read).toEqual([]);
      expect(write.ok, describeError(write)).toBe(false);
      expect((write as { error: unknown }).error).toBeInstanceOf(QueryFailedError);
    },
  };
}

const intTenantIds: Array<[string, unknown]> = [
  ['null', null],
  ['undefined', undefined],
  ['an empty string', ''],
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
  ['a float for an integer key (1.5)', 1.5],
  ['a float that prints like an integer (1.0000000000000002)', 1.0000000000000002],
  ['2^53, beyond MAX_SAFE_INTEGER', 2 ** 53],
  ['MAX_SAFE_INTEGER + 2', Number.MAX_SAFE_INTEGER + 2],
  ['1e21', 1e21],
  ['a BigInt (1n)', 1n],
  ['a numeric string for an integer key ("1")', '1'],
  ['a numeric string with whitespace (" 1 ")', ' 1 '],
  ['an exponent string ("1e0")', '1e0'],
  ['a hex string ("0x1")', '0x1'],
  ['whitespace only', ' \t\n'],
  ['an empty object', {}],
  ['an object with a wrong key ({ tenantId: 1 })', { tenantId: 1 }],
  ['a tenant entity whose id is a string ({ id: "1" })', Object.assign(new ProofTenant(), { id: '1' })],
  ['a tenant entity without an id', Object.assign(new ProofTenant(), { name: 'acme' })],
  ['an object with valueOf() => 1', { valueOf: () => 1 }],
  ['a boxed Number(1)', new Number(1)],
  ['an array ([1])', [1]],
  ['an empty array', []],
  ['a function returning 1', () => 1],
  ['a symbol', Symbol('1')],
  ['a Date', new Date(1)],
  ['true', true],
  ['false', false],
  ['a Promise of 1', Promise.resolve(1)],
  ['an SQL fragment ("1; DROP TABLE proof_items")', '1; DROP TABLE proof_items'],
  ['an SQL fragment ("1 OR 1=1")', '1 OR 1=1'],
  ['a set_config injection ("x\'; set app.tenant_id=\'2")', "x'; set app.tenant_id='2"],
  ['unicode digits ("١", "𝟏")', '١'],
  ['a fullwidth digit ("１")', '１'],
  ['an overlong string', '1'.repeat(10_000)],
];

const intCases: Array<Case<IntCtx>> = [
  // tenancy.manager(x) refuses every malformed id before anything runs.
  ...intTenantIds.map(([label, value]): Case<IntCtx> => ({ label: `tenancy.manager(${label})`, run: writeThrough(value), expect: MissingTenantError, noSql: true })),
  ...intTenantIds.slice(0, 12).map(([label, value]): Case<IntCtx> => ({
    label: `tenancy.run(${label}, fn)`,
    run: (c) =>
      c.w.tenancy.run(value as TenantRef, () => {
        throw new Error('fn ran with a malformed tenant');
      }),
    expect: MissingTenantError,
    noSql: true,
  })),
  {
    label: 'tenancy.current() outside run()',
    run: (c) => c.w.tenancy.current().insert(ProofItem, { label: 'bad' }),
    expect: MissingTenantError,
    noSql: true,
  },
  nonexistentTenant(0),
  nonexistentTenant(-1),
  nonexistentTenant(-0),
  nonexistentTenant(2_147_483_647),

  // Rows that name another tenant, or change their tenant.
  { label: 'insert with another tenantId', run: (c) => c.em1.insert(ProofItem, { label: 'x', tenantId: c.t2 }), expect: TenantMismatchError, noSql: true },
  { label: 'insert with the own tenantId as a string', run: (c) => c.em1.insert(ProofItem, { label: 'x', tenantId: String(c.t1) as never }), expect: TenantMismatchError, noSql: true },
  { label: 'insert with tenantId NaN', run: (c) => c.em1.insert(ProofItem, { label: 'x', tenantId: Number.NaN }), expect: TenantMismatchError, noSql: true },
  { label: 'insert with tenantId as a BigInt of another tenant', run: (c) => c.em1.insert(ProofItem, { label: 'x', tenantId: BigInt(c.t2) as never }), expect: TenantMismatchError, noSql: true },
  { label: 'save with tenantId as a BigInt of another tenant', run: (c) => c.em1.save(ProofItem, { label: 'x', tenantId: BigInt(c.t2) as never }), expect: TenantMismatchError, noSql: true },
  { label: 'update set tenantId to a BigInt', run: (c) => c.em1.update(ProofItem, { id: c.item1 }, { tenantId: BigInt(c.t2) as never }), expect: TenantMismatchError, noSql: true },
  {
    label: 'insert with tenantId as a circular object',
    run: (c) => {
      const circular: Record<string, unknown> = { id: c.t2 };
      circular.self = circular;
      return c.em1.insert(ProofItem, { label: 'x', tenantId: circular as never });
    },
    expect: TenantMismatchError,
    noSql: true,
  },
  {
    label: 'save with a relation whose id is a BigInt',
    run: (c) => c.em1.save(ProofNote, { body: 'x', item: { id: BigInt(c.item2) } as never }),
    expect: TenantMismatchError,
  },
  { label: 'insert with tenantId as a tenant entity', run: (c) => c.em1.insert(ProofItem, { label: 'x', tenantId: { id: c.t1 } as never }), expect: TenantMismatchError, noSql: true },
  { label: 'insert with tenantId as raw SQL (a function)', run: (c) => c.em1.insert(ProofItem, { label: 'x', tenantId: (() => String(c.t2)) as never }), expect: TenantMismatchError, noSql: true },
  {
    label: 'insert of [own row, foreign row]: nothing is written',
    run: (c) => c.em1.insert(ProofItem, [{ label: 'own' }, { label: 'x', tenantId: c.t2 }]),
    expect: TenantMismatchError,
    noSql: true,
  },
  {
    label: 'insert().values() with another tenantId',
    run: (c) => c.em1.createQueryBuilder().insert().into(ProofItem).values({ label: 'x', tenantId: c.t2 }).execute(),
    expect: TenantMismatchError,
    noSql: true,
  },
  {
    label: 'insert with tenantId null: the tenant is stamped (null means unset)',
    run: (c) => c.em1.insert(ProofItem, { label: 'null-tenant', tenantId: null as never }),
    expect: 'documented',
    writes: true,
    check: async (c, outcome) => {
      expect(outcome.ok, describeError(outcome)).toBe(true);
      const rows = await c.w.dataSource.manager.findBy(ProofItem, { label: 'null-tenant' });
      expect(rows.map((r) => r.tenantId)).toEqual([c.t1]);
      await c.w.dataSource.manager.delete(ProofItem, { label: 'null-tenant' });
    },
  },
  { label: 'save with another tenantId', run: (c) => c.em1.save(ProofItem, { label: 'x', tenantId: c.t2 }), expect: TenantMismatchError, noSql: true },
  {
    label: 'save of [own, foreign]: nothing is written',
    run: (c) => c.em1.save(ProofItem, [{ label: 'own' }, { label: 'x', tenantId: c.t2 }]),
    expect: TenantMismatchError,
    noSql: true,
  },
  {
    label: 'save with a cascaded child naming another tenant: the parent is rolled back',
    run: (c) => c.em1.save(c.em1.create(ProofItem, { label: 'parent', notes: [{ body: 'child', tenantId: c.t2 } as ProofNote] })),
    expect: TenantMismatchError,
  },
  {
    label: 'save of an own loaded entity moved to another tenant',
    run: async (c) => {
      const own = await c.em1.findOneByOrFail(ProofItem, { id: c.item1 });
      own.tenantId = c.t2;
      return c.em1.save(own);
    },
    expect: TenantMismatchError,
  },
  {
    label: "save of another tenant's loaded entity",
    run: async (c) => {
      const foreign = await c.w.dataSource.manager.findOneByOrFail(ProofItem, { id: c.item2 });
      foreign.label = 'stolen';
      return c.em1.save(foreign);
    },
    expect: TenantMismatchError,
  },
  {
    label: "remove of another tenant's loaded entity",
    run: async (c) => c.em1.remove(await c.w.dataSource.manager.findOneByOrFail(ProofItem, { id: c.item2 })),
    expect: TenantMismatchError,
  },
  {
    label: "softRemove of another tenant's loaded entity",
    run: async (c) => c.em1.softRemove(await c.w.dataSource.manager.findOneByOrFail(ProofItem, { id: c.item2 })),
    expect: TenantMismatchError,
  },
  { label: 'update set tenantId to another tenant', run: (c) => c.em1.update(ProofItem, { id: c.item1 }, { tenantId: c.t2 }), expect: TenantMismatchError, noSql: true },
  { label: 'update set tenantId to a string', run: (c) => c.em1.update(ProofItem, { id: c.item1 }, { tenantId: String(c.t2) as never }), expect: TenantMismatchError, noSql: true },
  {
    label: 'update().set({ tenantId: () => raw SQL })',
    run: (c) => c.em1.createQueryBuilder().update(ProofItem).set({ tenantId: () => String(c.t2) }).where('id = :id', { id: c.item1 }).execute(),
    expect: TenantMismatchError,
    noSql: true,
  },
  { label: 'upsert with another tenantId', run: (c) => c.em1.upsert(ProofSetting, { key: 'k-new', value: 'x', tenantId: c.t2 }, ['key']), expect: TenantMismatchError, noSql: true },
  {
    label: "upsert of another tenant's key: never takes the row over",
    run: (c) => c.em1.upsert(ProofSetting, { key: c.key2, value: 'hijacked' }, ['key']),
    expect: 'documented',
    check: (_c, outcome) => expect(outcome.ok, describeError(outcome)).toBe(true),
  },
  {
    label: 'update where { tenantId: another tenant } touches nothing',
    run: (c) => c.em1.update(ProofItem, { tenantId: c.t2 }, { label: 'pwned' }),
    expect: 'documented',
    check: (_c, outcome) => {
      expect(outcome.ok, describeError(outcome)).toBe(true);
      expect((outcome as { value: { affected?: number } }).value.affected ?? 0).toBe(0);
    },
  },
  {
    label: "increment by another tenant's id touches nothing",
    run: (c) => c.em1.increment(ProofItem, { id: c.item2 }, 'qty', 100),
    expect: 'documented',
    check: (_c, outcome) => {
      expect(outcome.ok, describeError(outcome)).toBe(true);
      expect((outcome as { value: { affected?: number } }).value.affected ?? 0).toBe(0);
    },
  },

  // Relations that point at another tenant's rows.
  {
    label: "save with a relation to another tenant's item",
    run: (c) => c.em1.save(ProofNote, { body: 'x', item: { id: c.item2 } as ProofItem }),
    expect: TenantMismatchError,
  },
  {
    label: "save with a relation to another tenant's loaded item (it carries its tenantId)",
    run: async (c) => c.em1.save(ProofNote, { body: 'x', item: await c.w.dataSource.manager.findOneByOrFail(ProofItem, { id: c.item2 }) }),
    expect: TenantMismatchError,
  },
  {
    label: 'save with a relation to an item that does not exist',
    run: (c) => c.em1.save(ProofNote, { body: 'x', item: { id: 987_654 } as ProofItem }),
    expect: TenantMismatchError,
  },
  {
    label: "insert with a relation to another tenant's item",
    run: (c) => c.em1.insert(ProofNote, { body: 'x', item: { id: c.item2 } as ProofItem }),
    expect: TenantMismatchError,
  },
  {
    label: "update of an own note to point at another tenant's item",
    run: (c) => c.em1.update(ProofNote, { id: c.note1 }, { item: { id: c.item2 } as ProofItem }),
    expect: TenantMismatchError,
  },
  {
    label: "relation().of(own note).set(another tenant's item)",
    run: (c) => c.em1.createQueryBuilder().relation(ProofNote, 'item').of(c.note1).set(c.item2),
    expect: TenantMismatchError,
  },
  {
    label: "a plain column value naming another tenant's item is stored (single-column reference, README Limits), and never loaded",
    run: async (c) => {
      const { identifiers } = await c.em1.insert(ProofNote, { body: 'column-ref', itemId: c.item2 });
      const loaded = await c.em1.findOneOrFail(ProofNote, { where: { id: identifiers[0]!.id }, relations: { item: true } });
      await c.w.dataSource.manager.delete(ProofNote, { id: identifiers[0]!.id });
      return loaded;
    },
    expect: 'documented',
    writes: true,
    check: (c, outcome) => {
      if (!outcome.ok) expect.fail(describeError(outcome));
      const loaded = outcome.value as ProofNote;
      expect([loaded.tenantId, loaded.itemId, loaded.item]).toEqual([c.t1, c.item2, null]);
    },
  },

  // The bypass spelled wrong: refused before any SQL.
  ...([
    ['the string "false"', 'false'],
    ['the string "true"', 'true'],
    ['the number 0', 0],
    ['the number 1', 1],
    ['null', null],
    ['undefined', undefined],
    ['an object', {}],
  ] as Array<[string, unknown]>).flatMap(([label, safe]): Array<Case<IntCtx>> => [
    { label: `find({ safe: ${label} })`, run: (c) => c.em1.find(ProofItem, { safe: safe as boolean }), expect: TenancyConfigError, noSql: true },
    { label: `countBy({ safe: ${label} })`, run: (c) => c.em1.countBy(ProofItem, { safe: safe as boolean }), expect: TenancyConfigError, noSql: true },
    {
      label: `createQueryBuilder(ProofItem, 'i', { safe: ${label} })`,
      run: (c) => c.em1.createQueryBuilder(ProofItem, 'i', { safe: safe as boolean }).getMany(),
      expect: TenancyConfigError,
      noSql: true,
    },
    {
      label: `query(sql, [], { safe: ${label} })`,
      run: (c) => c.em1.query('DELETE FROM proof_items', [], { safe: safe as boolean }),
      expect: TenancyConfigError,
      noSql: true,
    },
  ]),
];

// ---------------------------------------------------------------- uuid and varchar(32) tenant keys

interface KeyedCtx {
  ds: DataSource;
  tenancy: Tenancy;
  /** The existing tenants' ids. */
  a: string;
  b: string;
}

function keyedIdCases(kind: 'uuid' | 'code'): Array<Case<KeyedCtx>> {
  const doc = kind === 'uuid' ? UuidDoc : CodeDoc;
  const bad = (label: string, value: (c: KeyedCtx) => unknown): Case<KeyedCtx> => ({
    label: `tenancy.manager(${label})`,
    run: (c) => c.tenancy.manager(value(c) as TenantRef).insert(doc, { title: 'bad' }),
    expect: MissingTenantError,
    noSql: true,
  });
  /** A well-formed id of no tenant: reads nothing (the value is a bound parameter), a write fails on the foreign key. */
  const absent = (label: string, value: (c: KeyedCtx) => unknown): Case<KeyedCtx> => ({
    label: `tenancy.manager(${label}): a well-formed id of no tenant reads nothing and cannot write`,
    run: async (c) => {
      const em = c.tenancy.manager(value(c) as TenantRef);
      return { read: await em.find(doc), count: await em.count(doc), write: await attempt(() => em.insert(doc, { title: 'orphan' })) };
    },
    expect: 'documented',
    check: (_c, outcome) => {
      if (!outcome.ok) expect.fail(`expected a manager, got ${describeError(outcome)}`);
      const { read, count, write } = outcome.value as { read: unknown[]; count: number; write: Outcome };
      expect([read, count]).toEqual([[], 0]);
      expect(write.ok, describeError(write)).toBe(false);
      expect((write as { error: unknown }).error).toBeInstanceOf(QueryFailedError);
    },
  });
  const common = [
    bad('null', () => null),
    bad('undefined', () => undefined),
    bad('an empty string', () => ''),
    bad('a number', () => 1),
    bad('NaN', () => Number.NaN),
    bad('an array of the id', (c) => [c.a]),
    bad('an object with a wrong key', (c) => (kind === 'uuid' ? { tenantId: c.a, uuid: c.a } : { id: c.a, tenantId: c.a })),
  ];
  if (kind === 'uuid') {
    return [
      ...common,
      bad('a malformed uuid', () => 'not-a-uuid'),
      bad('a uuid without dashes', (c) => c.a.replace(/-/g, '')),
      bad('a uuid in braces', (c) => `{${c.a}}`),
      bad('a uuid with a suffix', (c) => `${c.a}0`),
      bad('a uuid with an SQL suffix', (c) => `${c.a}' OR '1'='1`),
      bad('a uuid with surrounding whitespace', (c) => ` ${c.a} `),
      bad('a uuid with a non-hex digit', (c) => `g${c.a.slice(1)}`),
      bad('a uuid of fullwidth digits', () => '０００００００００-００００-００００-００００-００００００００００００'),
      absent('the nil uuid', () => '00000000-0000-0000-0000-000000000000'),
      {
        label: "tenancy.manager(an upper-case uuid) is the same tenant (canonical lower case)",
        run: async (c) => {
          const em = c.tenancy.manager(c.a.toUpperCase());
          return { tenantId: em.tenantId, titles: (await em.find(UuidDoc)).map((d) => d.title) };
        },
        expect: 'documented',
        check: (c, outcome) => {
          if (!outcome.ok) expect.fail(describeError(outcome));
          expect(outcome.value).toEqual({ tenantId: c.a.toLowerCase(), titles: ['a-doc'] });
        },
      },
    ];
  }
  return [
    ...common,
    bad('a 33-character string for a varchar(32) key', () => 'x'.repeat(33)),
    bad('a 10,000-character string', () => 'x'.repeat(10_000)),
    bad('a tenant entity without its key', () => Object.assign(new CodeTenant(), { name: 'acme' })),
    absent('whitespace', () => ' '),
    absent('an SQL fragment ("acme\' OR \'1\'=\'1")', () => "acme' OR '1'='1"),
    absent('a set_config injection ("x\'; set app.tenant_id=\'b")', () => "x'; set app.tenant_id='b"),
    absent('unicode ("ácmé-ünïcödé")', () => 'ácmé-ünïcödé'),
    absent('a 32-character string (the limit)', () => 'y'.repeat(32)),
    absent('the id in another case ("ACME")', (c) => c.a.toUpperCase()),
    {
      label: 'tenancy.manager(a tenant entity) uses its key',
      run: async (c) => (await c.tenancy.manager(Object.assign(new CodeTenant(), { code: c.a })).find(CodeDoc)).map((d) => d.title),
      expect: 'documented',
      check: (_c, outcome) => {
        if (!outcome.ok) expect.fail(describeError(outcome));
        expect(outcome.value).toEqual(['a-doc']);
      },
    },
  ];
}

// ---------------------------------------------------------------- the suites

async function rawSnapshot(ds: DataSource, tables: string[]): Promise<string> {
  const parts: string[] = [];
  for (const table of tables) parts.push(table, JSON.stringify(await ds.manager.query(`SELECT * FROM ${ds.driver.escape(table)} ORDER BY 1`)));
  return parts.join('\n');
}

describe.each(databaseKinds())('bad input on %s (integer tenant key)', (kind) => {
  const log = new SqlLog();
  let c: IntCtx;
  let before: string;
  beforeAll(async () => {
    const w = await createProofWorld(kind, { logger: log, logging: true } as Partial<DataSourceOptions>);
    const [t1, t2] = w.tenantIds as [number, number];
    const m = w.dataSource.manager;
    const items = await m.insert(ProofItem, [
      { label: 'a1', qty: 1, tenantId: t1 },
      { label: 'b1', qty: 2, tenantId: t2 },
    ]);
    const [item1, item2] = items.identifiers.map((i) => Number(i.id)) as [number, number];
    const notes = await m.insert(ProofNote, [
      { body: 'n1', itemId: item1, tenantId: t1 },
      { body: 'n2', itemId: item2, tenantId: t2 },
    ]);
    await m.insert(ProofSetting, [
      { key: 'k-a', value: 'va', tenantId: t1 },
      { key: 'k-b', value: 'vb', tenantId: t2 },
    ]);
    c = { w, t1, t2, em1: w.tenancy.manager(t1), item1, item2, note1: Number(notes.identifiers[0]!.id), key2: 'k-b' };
  });
  afterAll(async () => c?.w.close());
  beforeEach(async () => {
    before = snapshotLinesFromRows(await c.w.dataSource.manager.query<SnapshotRow[]>(snapshotSql((n) => c.w.dataSource.driver.escape(n)))).join('\n');
    log.clear();
  });

  it('the corpus has at least 30 kinds of bad input', () => {
    expect(intCases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(intCases.map((kase) => [kase.label, kase] as const))('%s', async (_label, kase) => {
    const outcome = await attempt(() => kase.run(c));
    if (kase.noSql) expect(log.statements, `${kase.label}: SQL ran before the refusal`).toEqual([]);
    await expectOutcome(c, kase, outcome);
    if (!kase.writes) {
      const after = snapshotLinesFromRows(await c.w.dataSource.manager.query<SnapshotRow[]>(snapshotSql((n) => c.w.dataSource.driver.escape(n)))).join('\n');
      expect(after, `${kase.label}: rows changed`).toBe(before);
    }
  });
});

describe.each(databaseKinds())('bad input on %s (uuid and varchar(32) tenant keys)', (kind) => {
  const worlds: Partial<Record<'uuid' | 'code', { ctx: KeyedCtx; db: TestDatabase; log: SqlLog }>> = {};

  beforeAll(async () => {
    for (const key of ['uuid', 'code'] as const) {
      const db = await createTestDatabase(kind);
      const log = new SqlLog();
      const ds = new DataSource({ ...db.options, entities: key === 'uuid' ? uuidEntities : codeEntities, synchronize: true, logger: log, logging: true } as DataSourceOptions);
      const tenancy = new Tenancy(ds, tenancyOptions);
      await ds.initialize();
      let a: string;
      let b: string;
      if (key === 'uuid') {
        const [ta, tb] = await ds.manager.save(UuidTenant, [{ name: 'a' }, { name: 'b' }]);
        [a, b] = [ta!.id, tb!.id];
        await ds.manager.insert(UuidDoc, [
          { title: 'a-doc', tenantId: a },
          { title: 'b-doc', tenantId: b },
        ]);
      } else {
        [a, b] = ['acme', 'globex'];
        await ds.manager.insert(CodeTenant, [
          { code: a, name: 'Acme' },
          { code: b, name: 'Globex' },
        ]);
        await ds.manager.insert(CodeDoc, [
          { title: 'a-doc', tenantId: a },
          { title: 'b-doc', tenantId: b },
        ]);
      }
      worlds[key] = { ctx: { ds, tenancy, a, b }, db, log };
    }
  });
  afterAll(async () => {
    for (const world of Object.values(worlds)) {
      if (world.ctx.ds.isInitialized) await world.ctx.ds.destroy();
      await world.db.drop();
    }
  });

  const cases = [...keyedIdCases('uuid').map((k) => ['uuid', k] as const), ...keyedIdCases('code').map((k) => ['code', k] as const)];
  it.each(cases.map(([key, kase]) => [`${key === 'uuid' ? 'uuid key' : 'varchar(32) key'}: ${kase.label}`, key, kase] as const))(
    '%s',
    async (_label, key, kase) => {
      const { ctx, log } = worlds[key]!;
      const tables = key === 'uuid' ? ['proof_uuid_tenants', 'proof_uuid_docs'] : ['proof_code_tenants', 'proof_code_docs'];
      const before = await rawSnapshot(ctx.ds, tables);
      log.clear();
      const outcome = await attempt(() => kase.run(ctx));
      if (kase.noSql) expect(log.statements, `${kase.label}: SQL ran before the refusal`).toEqual([]);
      await expectOutcome(ctx, kase, outcome);
      expect(await rawSnapshot(ctx.ds, tables), `${kase.label}: rows changed`).toBe(before);
    },
  );
});
