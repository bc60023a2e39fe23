import 'reflect-metadata';
import fc from 'fast-check';
import { Column, DataSource, Entity, Index, ManyToOne, PrimaryGeneratedColumn, type QueryRunner } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tenancy, TenantEntity, TenantMismatchError, TenantScoped } from '../src/index.js';
import { SqlLog } from './support/sql-log.js';

// better-sqlite3: TypeORM writes number parameters into the SQL text, so every id makes a new
// statement to prepare. A tenant builder binds safe integers as `(?|0)` (statement-parameters.ts):
// the text repeats and TypeORM's statement cache serves it. What must hold: the same rows and values
// as the integer literals gave (compared with TypeORM's own rendering on the same database), the
// tenant still bound to every statement, and loggers still given plain numbers.

@TenantEntity()
@Entity('sr_tenants')
class SrTenant {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
}

@TenantScoped()
@Entity('sr_authors')
class SrAuthor {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
  tenantId!: number;
}

@TenantScoped()
@Entity('sr_items')
class SrItem {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'integer' }) n!: number;
  // Affinity matters: a double bound into TEXT would be stored as '5.0', compared as text.
  @Column({ type: 'varchar' }) label!: string;
  @Column({ type: 'real' }) ratio!: number;
  @ManyToOne(() => SrAuthor, { nullable: true }) author?: SrAuthor | null;
  tenantId!: number;
}

/** A logger that serializes parameters as many application loggers do (a BigInt would throw here). */
class JsonSqlLog extends SqlLog {
  readonly parameters: unknown[][] = [];
  override logQuery(query: string, parameters?: unknown[]): void {
    super.logQuery(query);
    JSON.stringify(parameters);
    this.parameters.push(parameters ?? []);
  }
}

describe('better-sqlite3: tenant statements repeat their text (integers bound)', () => {
  const log = new JsonSqlLog();
  const ds = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [SrTenant, SrAuthor, SrItem], synchronize: true, logging: true, logger: log });
  const tenancy = new Tenancy(ds, { defaultManager: 'unscoped' });
  let a: number;
  let b: number;
  let authorA: SrAuthor;
  let authorB: SrAuthor;

  beforeAll(async () => {
    await ds.initialize();
    [a, b] = (await ds.manager.save(SrTenant, [{ name: 'a' }, { name: 'b' }])).map((t) => t.id) as [number, number];
    authorA = await tenancy.manager(a).save(SrAuthor, { name: 'ann' });
    authorB = await tenancy.manager(b).save(SrAuthor, { name: 'bob' });
  });
  afterAll(async () => {
    await ds.destroy();
  });

  /** Runs `work` and returns the statements it logged (with their parameters). */
  async function logged(work: () => Promise<unknown>): Promise<Array<[string, unknown[]]>> {
    const from = log.statements.length;
    await work();
    return log.statements.slice(from).map((sql, i) => [sql, log.parameters[from + i]!]);
  }

  it('a read by id and a save with a relation send the same SQL text for every id, with number parameters', async () => {
    const em = tenancy.manager(a);
    const first = await em.save(SrItem, { n: 1, label: 'x', ratio: 0.5, author: { id: authorA.id } });
    const reads1 = await logged(() => em.findOneBy(SrItem, { id: first.id }));
    const other = await em.save(SrItem, { n: 2, label: 'y', ratio: 1.5, author: { id: authorA.id } });
    const reads2 = await logged(() => em.findOneBy(SrItem, { id: other.id }));
    expect(reads1.map(([sql]) => sql)).toEqual(reads2.map(([sql]) => sql));
    expect(reads1[0]![0]).toContain('(?|0)');
    expect(reads1[0]![1]).toContain(first.id);
    expect(reads2[0]![1]).toContain(other.id);
    for (const [, parameters] of [...reads1, ...reads2]) for (const p of parameters) expect(typeof p).not.toBe('bigint');

    const save = (n: number) => logged(() => em.save(SrItem, { n, label: String(n), ratio: n * 2, author: { id: authorA.id } }));
    const saves = [await save(3), await save(1_000_000)];
    expect(saves[0]!.map(([sql]) => sql)).toEqual(saves[1]!.map(([sql]) => sql));
  });

  it('the statement is prepared once: later ids reuse it', async () => {
    const em = tenancy.manager(a);
    const ids = [] as number[];
    for (let i = 0; i < 5; i++) ids.push((await em.save(SrItem, { n: i, label: 'p', ratio: 0, author: { id: authorA.id } })).id);
    // Count better-sqlite3 prepares on this DataSource's own connection (an instance property, no prototype touched).
    const runner = ds.createQueryRunner() as QueryRunner & { connect(): Promise<{ prepare(sql: string): unknown }> };
    const connection = await runner.connect();
    const prepare = connection.prepare.bind(connection);
    let prepared = 0;
    connection.prepare = (sql: string) => {
      prepared++;
      return prepare(sql);
    };
    try {
      await em.findOneBy(SrItem, { id: ids[0]! });
      const before = prepared;
      for (const id of ids.slice(1)) expect((await em.findOneBy(SrItem, { id }))?.id).toBe(id);
      expect(prepared).toBe(before);
      // TypeORM's own rendering (the unscoped manager) writes each id in: a statement per id.
      const plain = prepared;
      for (const id of ids) await ds.manager.findOneBy(SrItem, { id });
      expect(prepared - plain).toBe(ids.length);
    } finally {
      delete (connection as { prepare?: unknown }).prepare;
    }
  });

  it('the tenant stays bound: another tenant\'s ids, in criteria, relations and a parameter named like the tenant\'s, reach nothing', async () => {
    const emA = tenancy.manager(a);
    const itemB = await tenancy.manager(b).save(SrItem, { n: 7, label: 'b', ratio: 1, author: { id: authorB.id } });
    expect(await emA.findOneBy(SrItem, { id: itemB.id })).toBeNull();
    expect(await emA.countBy(SrItem, { author: { id: authorB.id } })).toBe(0);
    const viaParameter = await emA.createQueryBuilder(SrItem, 'i').where('i.id = :id', { id: itemB.id }).setParameter('tenancy_tenant_id', b).getMany();
    expect(viaParameter).toEqual([]);
    await expect(emA.save(SrItem, { n: 8, label: 'x', ratio: 0, author: { id: authorB.id } })).rejects.toBeInstanceOf(TenantMismatchError);
    await expect(emA.insert(SrItem, { n: 8, label: 'x', ratio: 0, author: { id: authorB.id } })).rejects.toBeInstanceOf(TenantMismatchError);
    expect((await emA.update(SrItem, { id: itemB.id }, { n: 99 })).affected).toBe(0);
    expect((await emA.delete(SrItem, { id: itemB.id })).affected).toBe(0);
    expect((await ds.manager.findOneByOrFail(SrItem, { id: itemB.id })).n).toBe(7);
  });

  it('values and comparisons equal the integer literals TypeORM writes (property: integer arithmetic, TEXT and REAL affinity)', async () => {
    const em = tenancy.manager(a);
    const row = await em.save(SrItem, { n: 12, label: '12', ratio: 12, author: null });
    const expressions = [
      '(:x) / (:y)', '(:x) % (:y)', '(:x) * 3 / (:y)', 'typeof(:x)', 'i.label = :x', 'i.label || :x', 'i.ratio = :x', 'i.n < :x',
      'CAST(:x AS TEXT)', 'abs(:x) / 2', ':x = :y', 'max(:x, :y)',
    ];
    const integer = fc.integer({ min: -1_000_000, max: 1_000_000 });
    await fc.assert(
      fc.asyncProperty(integer, integer.filter((y) => y !== 0), fc.constantFrom(...expressions), async (x, y, expression) => {
        const scoped = await em.createQueryBuilder(SrItem, 'i').select(expression, 'r').where('i.id = :id', { id: row.id, x, y }).getRawOne<{ r: unknown }>();
        const plain = await ds.manager.createQueryBuilder(SrItem, 'i').select(expression, 'r').where('i.id = :id AND i.tenant_id = :t', { id: row.id, t: a, x, y }).getRawOne<{ r: unknown }>();
        expect(scoped).toEqual(plain);
      }),
      { numRuns: 150 },
    );
  });

  it('integers written into TEXT and REAL columns are stored as the literals were; larger and fractional numbers stay written in', async () => {
    const em = tenancy.manager(a);
    const saved = await em.save(SrItem, { n: 5, label: 5 as unknown as string, ratio: 5, author: null });
    await em.insert(SrItem, { n: 6, label: 6 as unknown as string, ratio: 6, author: null });
    await em.update(SrItem, { id: saved.id }, { label: 9 as unknown as string });
    const stored = (await ds.query('SELECT label, typeof(label) AS lt, ratio, typeof(ratio) AS rt, typeof(n) AS nt FROM sr_items WHERE label IN (\'9\', \'6\') ORDER BY label')) as unknown[];
    expect(stored).toEqual([
      { label: '6', lt: 'text', ratio: 6, rt: 'real', nt: 'integer' },
      { label: '9', lt: 'text', ratio: 5, rt: 'real', nt: 'integer' },
    ]);
    const unsafe = 2 ** 53;
    const statements = await logged(() => em.createQueryBuilder(SrItem, 'i').where('i.ratio < :f OR i.n = :big', { f: 0.25, big: unsafe }).getMany());
    expect(statements[0]![0]).toContain('0.25');
    expect(statements[0]![0]).toContain(String(unsafe));
    // A list parameter was bound by TypeORM already; it stays as it was.
    const listed = await em.createQueryBuilder(SrItem, 'i').where('i.n IN (:...ns)', { ns: [5, 6] }).orderBy('i.n').getMany();
    expect(listed.map((i) => i.n)).toEqual([5, 6]);
  });
});

describe('better-sqlite3: what the integer binding leaves as TypeORM renders it', () => {
  @TenantScoped()
  @Entity('sr_flags')
  @Index('sr_flags_open', ['n'], { where: '"status" = 1' })
  class SrFlag {
    @PrimaryGeneratedColumn() id!: number;
    @Column({ type: 'integer' }) n!: number;
    @Column({ type: 'integer' }) status!: number;
    tenantId!: number;
  }

  async function world(statementCacheSize?: number) {
    const log = new SqlLog();
    const ds = new DataSource({
      type: 'better-sqlite3', database: ':memory:', entities: [SrTenant, SrFlag], synchronize: true, logging: true, logger: log,
      ...(statementCacheSize === undefined ? {} : { statementCacheSize }),
    });
    const tenancy = new Tenancy(ds, { defaultManager: 'unscoped' });
    await ds.initialize();
    const [t] = await ds.manager.save(SrTenant, [{ name: 't' }]);
    return { ds, log, em: tenancy.manager(t!.id) };
  }

  it('a DataSource without a statement cache keeps the integers written in (nothing to reuse)', async () => {
    const { ds, log, em } = await world(0);
    try {
      const flag = await em.save(SrFlag, { n: 41, status: 1 });
      log.clear();
      expect((await em.findOneBy(SrFlag, { id: flag.id }))?.n).toBe(41);
      expect(log.statements[0]).not.toContain('(?|0)');
      expect(log.statements[0]).toContain(`= ${flag.id}`);
    } finally {
      await ds.destroy();
    }
  });

  it('a partial index on an integer constant serves a constant written into the query, not a bound parameter (README, Limits)', async () => {
    const { ds, em } = await world();
    try {
      // Many rows of the one tenant, each n once: the partial index is the selective one (once analyzed).
      await em.insert(SrFlag, Array.from({ length: 300 }, (_, i) => ({ n: i, status: i % 2 })));
      await ds.query('ANALYZE');
      const plan = async (qb: { getQueryAndParameters(): [string, unknown[]] }) => {
        const [sql, parameters] = qb.getQueryAndParameters();
        return ((await ds.query(`EXPLAIN QUERY PLAN ${sql}`, parameters)) as Array<{ detail: string }>).map((r) => r.detail).join('; ');
      };
      const written = em.createQueryBuilder(SrFlag, 'f').where('f.n = :n AND f.status = 1', { n: 1 });
      const bound = em.createQueryBuilder(SrFlag, 'f').where('f.n = :n AND f.status = :s', { n: 1, s: 1 });
      expect(await plan(written)).toContain('sr_flags_open');
      expect(await plan(bound)).not.toContain('sr_flags_open');
      expect((await written.getMany()).map((f) => f.n)).toEqual([1]);
      expect((await bound.getMany()).map((f) => f.n)).toEqual([1]);
      expect(await bound.setParameter('s', 0).getMany()).toEqual([]);
    } finally {
      await ds.destroy();
    }
  });
});
