import { DataSource } from 'typeorm';
import type { ReadStream } from 'typeorm/platform/PlatformTools.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tenancy, type TenantEntityManager } from '../../src/index.js';
import { blogEntities, Post, Tag, type Tenant } from '../fixtures/blog.js';
import { type LoginRole, type RlsApp, startRlsApp } from '../support/app-role.js';
import { type BlogWorld, createBlogWorld } from '../support/blog-world.js';
import { adminQuery, createTestDatabase, databaseKinds, type TestDatabase } from '../support/databases.js';
import { type PgBouncer, pgbouncerAvailable, startPgBouncer } from '../support/pgbouncer.js';

/**
 * Class 6 of issue 12 (DESIGN rule 10): a pooled connection whose transaction state is not
 * known to be idle is destroyed, never released. Every path that opens a bound transaction
 * (autocommit reads and raw SQL, transaction(), save(), stream(), the bypass) is made to
 * fail by a client-side timeout (node-postgres `query_timeout`), a server-side
 * `statement_timeout`, a killed backend, and a client-side timeout through PgBouncer in
 * transaction mode. Afterwards a plain unbound query on the same pool (max: 1, so the very
 * connection when it was kept) finds no tenant binding, no bypass role and no open
 * transaction, and tenant b's next save does not commit tenant a's work.
 */

const hasPostgres = databaseKinds().includes('postgres');
const SLEEP = 1; // seconds a poisoned statement runs on the server

type Fault = 'query_timeout' | 'statement_timeout' | 'killed backend' | 'pgbouncer + query_timeout';

const drain = (stream: ReadStream) =>
  new Promise<void>((resolve, reject) => {
    stream.on('data', () => undefined);
    stream.once('end', resolve);
    stream.once('error', reject);
  });

/** The bound operations under test: each runs a statement that sleeps, and writes first where it can. */
const operations: Array<[string, (tenancy: Tenancy, tenant: number, mark: string) => Promise<unknown>]> = [
  ['autocommit raw SQL', (t, a) => t.manager(a).query(`SELECT pg_sleep(${SLEEP})`)],
  ['autocommit read', (t, a) => t.manager(a).createQueryBuilder(Post, 'p').where(`(SELECT 1 FROM pg_sleep(${SLEEP})) = 1`).getMany()],
  ['{ safe: false } raw SQL (bypass role)', (t, a) => t.manager(a).query(`SELECT pg_sleep(${SLEEP})`, [], { safe: false })],
  ['{ safe: false } read (bypass role)', (t, a) => t.manager(a).createQueryBuilder(Post, 'p', { safe: false }).where(`(SELECT 1 FROM pg_sleep(${SLEEP})) = 1`).getMany()],
  [
    'transaction() that wrote first',
    (t, a, mark) =>
      t.manager(a).transaction(async (tx) => {
        await tx.insert(Tag, { label: mark });
        await tx.query(`SELECT pg_sleep(${SLEEP})`);
      }),
  ],
  [
    'transaction() with a bypass then a write',
    (t, a, mark) =>
      t.manager(a).transaction(async (tx) => {
        await tx.insert(Tag, { label: mark });
        await tx.query(`SELECT pg_sleep(${SLEEP})`, [], { safe: false });
      }),
  ],
  ['save() (a trigger sleeps)', (t, a, mark) => t.manager(a).save(Tag, { label: `slow-${mark}` })],
  ['stream()', async (t, a) => drain(await t.manager(a).createQueryBuilder(Post, 'p').where(`(SELECT 1 FROM pg_sleep(${SLEEP})) = 1`).stream())],
];

describe.skipIf(!hasPostgres)('pool poisoning: a connection in doubt is destroyed, never released', () => {
  let w: BlogWorld;
  const apps = new Map<Fault, RlsApp>();
  let bouncer: PgBouncer | undefined;
  const withBouncer = hasPostgres && pgbouncerAvailable();

  beforeAll(async () => {
    w = await createBlogWorld('postgres');
    // save(): a row whose label starts with "slow-" takes a while to insert.
    await w.dataSource.query(`CREATE FUNCTION slow_tag() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.label LIKE 'slow-%' THEN PERFORM pg_sleep(${SLEEP}); END IF; RETURN NEW; END $$`);
    await w.dataSource.query('CREATE TRIGGER slow_tag BEFORE INSERT ON tags FOR EACH ROW EXECUTE FUNCTION slow_tag()');
  }, 60_000);
  afterAll(async () => {
    for (const app of apps.values()) await app.close();
    await bouncer?.stop();
    await w?.close();
  });

  const appFor = async (fault: Fault): Promise<RlsApp> => {
    const existing = apps.get(fault);
    if (existing) return existing;
    const extra: Record<string, unknown> = { max: 1 };
    if (fault === 'query_timeout' || fault === 'pgbouncer + query_timeout') extra.query_timeout = 300;
    if (fault === 'statement_timeout') extra.statement_timeout = 300;
    // PgBouncer in transaction mode, one server connection, in front of the test server; its user list needs the roles.
    const port =
      fault === 'pgbouncer + query_timeout'
        ? async (roles: LoginRole[]) => {
            const url = new URL(w.db.options.type === 'postgres' ? w.db.options.url : '');
            bouncer = await startPgBouncer({ host: url.hostname, port: Number(url.port || 5432) }, roles);
            return bouncer.port;
          }
        : undefined;
    const app = await startRlsApp(w.dataSource, { entities: blogEntities, prefix: 'poison', bypass: 'role', extra, port });
    apps.set(fault, app);
    return app;
  };

  /** The next borrower's view, through a plain unbound query on the same pool of one. */
  const nextBorrower = async (app: RlsApp) =>
    ((await app.app.query(
      `SELECT NULLIF(current_setting('app.tenant_id', true), '') AS tenant, current_user AS role,
              txid_current_if_assigned() AS tx, (SELECT count(*)::int FROM posts) AS visible, (SELECT count(*)::int FROM tags) AS tags`,
    )) as Array<Record<string, unknown>>)[0]!;

  /** Waits until no backend of the app role is still running a poisoned statement (the server then rolled it back). */
  const settled = async (app: RlsApp) => {
    for (let i = 0; i < 100; i++) {
      const [{ n }] = (await adminQuery(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND state <> 'idle'`, [app.appRole])) as Array<{ n: number }>;
      if (n === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('a poisoned backend is still running');
  };

  const kill = async (app: RlsApp) => {
    for (let i = 0; i < 100; i++) {
      const rows = (await adminQuery(`SELECT pid FROM pg_stat_activity WHERE usename = $1 AND wait_event = 'PgSleep'`, [app.appRole])) as Array<{ pid: number }>;
      if (rows.length) {
        await adminQuery('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  const faults: Fault[] = ['query_timeout', 'statement_timeout', 'killed backend', ...(withBouncer ? (['pgbouncer + query_timeout'] as Fault[]) : [])];
  const cases = faults.flatMap((fault) => operations.map(([name, run]) => [fault, name, run] as const));

  it.each(cases)('%s, %s: the next borrower gets no binding, no role, no open transaction; tenant b does not commit a\'s work', async (fault, name, run) => {
    const app = await appFor(fault);
    const mark = `poison-${fault}-${name}`.replace(/[^a-z0-9-]+/gi, '-');
    const attempt = run(app.tenancy, w.t1, mark).then(() => undefined, (error: unknown) => error);
    if (fault === 'killed backend') await kill(app);
    expect(await attempt).toBeInstanceOf(Error);
    // At once, while the server may still be running the poisoned statement.
    expect(await nextBorrower(app)).toEqual({ tenant: null, role: app.appRole, tx: null, visible: 0, tags: 0 });
    const after = `b-after-${mark}`;
    await app.tenancy.manager(w.t2).save(Tag, { label: after });
    await settled(app);
    const rows = (await w.dataSource.query('SELECT label, tenant_id FROM tags WHERE label LIKE $1 OR label = $2 ORDER BY label', [`%${mark}`, after])) as Array<{
      label: string;
      tenant_id: number;
    }>;
    expect(rows).toEqual([{ label: after, tenant_id: w.t2 }]);
    expect(await nextBorrower(app)).toEqual({ tenant: null, role: app.appRole, tx: null, visible: 0, tags: 0 });
    // The pool keeps serving both tenants, scoped.
    expect((await app.tenancy.manager(w.t1).find(Post)).map((p) => p.tenantId)).toEqual([w.t1, w.t1, w.t1]);
  }, 30_000);
});

describe.skipIf(!hasPostgres)('errors name their cause: a backend killed inside a transaction callback', () => {
  let w: BlogWorld;
  let app: RlsApp;
  beforeAll(async () => {
    w = await createBlogWorld('postgres');
    app = await startRlsApp(w.dataSource, { entities: blogEntities, prefix: 'cause', bypass: 'role', extra: { max: 1 } });
  });
  afterAll(async () => {
    await app?.close();
    await w?.close();
  });

  const steps: Array<[string, (tx: TenantEntityManager) => Promise<unknown>]> = [
    ['query()', (tx) => tx.query('SELECT 1')],
    ['find()', (tx) => tx.find(Post)],
    ['save()', (tx) => tx.save(Tag, { label: 'after-kill' })],
    ['{ safe: false } count()', (tx) => tx.count(Post, { safe: false })],
  ];

  it.each(steps)('%s after the kill: the caller gets the real error (SQLSTATE 57P01) as the cause, and the pool recovers', async (_name, step) => {
    const outcome = await app.tenancy
      .manager(w.t1)
      .transaction(async (tx) => {
        const [{ pid }] = (await tx.query('SELECT pg_backend_pid() AS pid')) as Array<{ pid: number }>;
        await adminQuery('SELECT pg_terminate_backend($1)', [pid]);
        // TypeORM releases the runner when the connection reports the error; the next statement meets a released runner.
        for (let i = 0; i < 100 && !tx.queryRunner!.isReleased; i++) await new Promise((resolve) => setTimeout(resolve, 10));
        expect(tx.queryRunner!.isReleased).toBe(true);
        await step(tx);
      })
      .then(() => undefined, (error: unknown) => error as Error & { cause?: { code?: string } });
    expect(outcome).toBeInstanceOf(Error);
    expect(outcome!.name).toBe('QueryRunnerAlreadyReleasedError');
    expect(outcome!.cause?.code).toBe('57P01');
    expect(outcome!.message).toMatch(/SQLSTATE 57P01/);
    expect((await app.tenancy.manager(w.t1).find(Post)).length).toBe(3);
  });
});

describe.skipIf(!hasPostgres)("pool poisoning under the schema strategy: search_path never survives a timed-out operation", () => {
  let db: TestDatabase;
  let ds: DataSource;
  let tenancy: Tenancy;
  let acme: Tenant;
  let globex: Tenant;
  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    ds = new DataSource({ ...db.options, entities: blogEntities, synchronize: true, extra: { max: 1, query_timeout: 300 } } as never);
    tenancy = new Tenancy(ds, { strategy: 'schema', defaultManager: 'unscoped' });
    await ds.initialize();
    acme = (await tenancy.tenants.create({ name: 'acme' })) as Tenant;
    globex = (await tenancy.tenants.create({ name: 'globex' })) as Tenant;
    await tenancy.manager(acme).save(Tag, { label: 'acme-tag' });
  }, 60_000);
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  const runs: Array<[string, () => Promise<unknown>]> = [
    ['autocommit read', () => tenancy.manager(acme).createQueryBuilder(Tag, 't').where(`(SELECT 1 FROM pg_sleep(${SLEEP})) = 1`).getMany()],
    ['{ safe: false } raw SQL', () => tenancy.manager(acme).query(`SELECT pg_sleep(${SLEEP})`, [], { safe: false })],
    [
      'transaction() that wrote first',
      () =>
        tenancy.manager(acme).transaction(async (tx) => {
          await tx.insert(Tag, { label: 'acme-poison' });
          await tx.createQueryBuilder(Tag, 't').where(`(SELECT 1 FROM pg_sleep(${SLEEP})) = 1`).getMany();
        }),
    ],
  ];

  it.each(runs)('query_timeout, %s: the next borrower reads the default search_path outside any transaction; globex does not commit acme\'s work', async (_name, run) => {
    await expect(run()).rejects.toThrow(/timeout/);
    const [after] = (await ds.query(`SELECT current_setting('search_path') AS path, txid_current_if_assigned() AS tx, (SELECT count(*)::int FROM tags) AS tags`)) as Array<Record<string, unknown>>;
    expect(after).toEqual({ path: '"$user", public', tx: null, tags: 0 });
    await tenancy.manager(globex).save(Tag, { label: 'globex-after' });
    for (let i = 0; i < 50; i++) {
      const [{ n }] = (await adminQuery(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'`)) as Array<{ n: number }>;
      if (n === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await ds.query(`SELECT count(*)::int AS n FROM "tenant_${acme.id}".tags WHERE label = 'acme-poison'`)).toEqual([{ n: 0 }]);
    expect(await ds.query(`SELECT count(*)::int AS n FROM "tenant_${globex.id}".tags WHERE label = 'acme-poison'`)).toEqual([{ n: 0 }]);
    expect((await tenancy.manager(acme).find(Tag)).map((t) => t.label)).toEqual(['acme-tag']);
  }, 30_000);
});
