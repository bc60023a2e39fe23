import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tenancy, UnsafeQueryError } from '../../src/index.js';
import { fusingClientClass, setAutocommitBinding, type PgModule } from '../../src/internal/pg/fusing-client.js';
import { blogEntities, Post, Tag } from '../fixtures/blog.js';
import { type BlogWorld, createBlogWorld, SqlLog } from '../support/blog-world.js';
import { createAppAndBypassRoles, type LoginRole, type RlsApp, startRlsApp } from '../support/app-role.js';
import { type PgBouncer, pgbouncerAvailable, startPgBouncer } from '../support/pgbouncer.js';
import { adminQuery, databaseKinds } from '../support/databases.js';

/**
 * One round trip per bound statement (issue 14): the binding's set_config goes before the
 * statement, both before one Sync. Counted on the wire: every message the client writes
 * (P Parse, B Bind, D Describe, E Execute, S Sync, Q simple query) and every ReadyForQuery
 * (one per round trip), through a user's own `extra.Client` that the fusing client wraps.
 */

const hasPostgres = databaseKinds().includes('postgres');

interface Wire {
  sent: string[];
  roundTrips: number;
}
const wires: Wire[] = [];
let current: Wire = { sent: [], roundTrips: 0 };

/** A user's own client class: counts what goes on the wire. */
class CountingClient extends pg.Client {
  override connect(): Promise<pg.Client>;
  override connect(callback: (error: Error) => void): void;
  override connect(callback?: (error: Error) => void): Promise<pg.Client> | void {
    const connected = super.connect().then((client) => (this.#count(), client));
    if (!callback) return connected;
    connected.then(() => (callback as (e: Error | null) => void)(null), callback);
  }

  #count(): void {
    const connection = (this as unknown as { connection: { stream: { write(chunk: Buffer, ...rest: unknown[]): boolean }; on(e: string, f: () => void): void } }).connection;
    const write = connection.stream.write.bind(connection.stream);
    connection.stream.write = (chunk: Buffer, ...rest: unknown[]) => {
      if (Buffer.isBuffer(chunk)) {
        // pg-protocol writes one buffer per message (corked into one packet); read every message in it.
        for (let at = 0; at + 5 <= chunk.length; at += 1 + chunk.readInt32BE(at + 1)) current.sent.push(String.fromCharCode(chunk[at]!));
      }
      return write(chunk, ...rest);
    };
    connection.on('readyForQuery', () => current.roundTrips++);
  }
}

async function counted<T>(work: () => Promise<T>): Promise<{ result: T; sent: string; executes: number; roundTrips: number }> {
  current = { sent: [], roundTrips: 0 };
  wires.push(current);
  const result = await work();
  const wire = current;
  return { result, sent: wire.sent.join(''), executes: wire.sent.filter((m) => m === 'E' || m === 'Q').length, roundTrips: wire.roundTrips };
}

describe.skipIf(!hasPostgres)('fused binding: one round trip per bound statement', () => {
  const suffix = randomBytes(4).toString('hex');
  const appRole = `tenancy_fuse_${suffix}`;
  const bypassRole = `tenancy_fuse_bypass_${suffix}`;
  let w: BlogWorld;
  let appUrl: string;
  const opened: DataSource[] = [];
  const log = new SqlLog();
  /** Rows per tenant, read as the owner. */
  let postsOf: Map<number, number[]>;
  let allPosts: number;

  const rlsApp = async (extra: Record<string, unknown> = {}, rls: Record<string, unknown> = {}, more: Record<string, unknown> = {}) => {
    const ds = new DataSource({ type: 'postgres', url: appUrl, entities: blogEntities, logger: log, logging: true, extra: { max: 1, Client: CountingClient, ...extra }, ...more } as never);
    opened.push(ds);
    const tenancy = new Tenancy(ds, { rowLevelSecurity: { bypassRole, ...rls }, defaultManager: 'unscoped' });
    await ds.initialize();
    return { ds, tenancy };
  };

  /** What the next borrower of a pool of one sees: no setting, no role, no transaction. */
  const session = async (ds: DataSource) =>
    ((await ds.query(`SELECT NULLIF(current_setting('app.tenant_id', true), '') AS tenant, current_user AS role, txid_current_if_assigned() AS tx`)) as Array<
      Record<string, unknown>
    >)[0]!;

  beforeAll(async () => {
    w = await createBlogWorld('postgres');
    appUrl = await createAppAndBypassRoles(w.dataSource, appRole, bypassRole);
    const { ds, tenancy } = await rlsApp();
    const admin = w.dataSource.createQueryRunner();
    await tenancy.rls.install(admin);
    await admin.release();
    await ds.destroy();
    const rows = (await w.dataSource.query('SELECT id, tenant_id FROM posts ORDER BY id')) as Array<{ id: number; tenant_id: number }>;
    allPosts = rows.length;
    postsOf = new Map();
    for (const r of rows) postsOf.set(r.tenant_id, [...(postsOf.get(r.tenant_id) ?? []), r.id]);
  }, 60_000);
  afterAll(async () => {
    for (const ds of opened) if (ds.isInitialized) await ds.destroy();
    await w?.close();
    await adminQuery(`DROP ROLE IF EXISTS ${appRole}`);
    await adminQuery(`DROP ROLE IF EXISTS ${bypassRole}`);
  });

  it('autocommit point read, count and update: one round trip each (binding + statement before one Sync), only the statement\'s result', async () => {
    const { ds, tenancy } = await rlsApp();
    const em = tenancy.manager(w.t1);
    await em.count(Post); // the pool's connection is open
    log.clear();
    const read = await counted(() => em.findOneBy(Post, { id: w.posts.a1.id }));
    expect(read.result?.id).toBe(w.posts.a1.id);
    // TypeORM's own statement count is kept (findOne with relations may send two): each carries its binding.
    expect(read.roundTrips).toBe(log.statements.length);
    expect(read.sent).toBe('PBEPBDES'.repeat(log.statements.length));
    const point = await counted(() => em.createQueryBuilder(Post, 'p').where('p.id = :id', { id: w.posts.a1.id }).getRawOne());
    expect(point).toMatchObject({ sent: 'PBEPBDES', executes: 2, roundTrips: 1 });
    const count = await counted(() => em.count(Post));
    expect(count).toMatchObject({ result: 3, sent: 'PBEPBDES', roundTrips: 1 });
    const update = await counted(() => em.update(Post, { id: w.posts.a1.id }, { title: w.posts.a1.title }));
    expect(update).toMatchObject({ sent: 'PBEPBDES', roundTrips: 1 });
    expect(update.result.affected).toBe(1);
    // Another tenant's row: the database hides it (app-side criterion or not).
    expect(await em.findOneBy(Post, { id: w.posts.g1.id })).toBeNull();
    expect((await counted(() => em.update(Post, { id: w.posts.g1.id }, { title: 'x' }))).result.affected).toBe(0);
    const raw = await counted(() => em.query('SELECT count(*)::int AS n FROM posts WHERE id > $1', [0]));
    expect(raw).toMatchObject({ result: [{ n: 3 }], roundTrips: 1 });
    expect(await session(ds)).toEqual({ tenant: null, role: appRole, tx: null });
  });

  it('a transaction of 10 writes: START TRANSACTION and its binding in one round trip, then one per statement, COMMIT', async () => {
    const { ds, tenancy } = await rlsApp();
    const em = tenancy.manager(w.t2);
    await em.count(Post);
    // The first insert into a table asks the database about it once (fold-blockers.ts): in a
    // transaction, in a savepoint — three round trips of first use, not per statement.
    const first = await counted(() => em.transaction((t) => t.insert(Tag, { label: `fused-first-${suffix}` })));
    expect(first.roundTrips).toBe(3 + 3);
    const tx = await counted(() =>
      em.transaction(async (t) => {
        for (let i = 0; i < 10; i++) await t.insert(Tag, { label: `fused-tx-${suffix}-${i}` });
      }),
    );
    expect(tx.roundTrips).toBe(12);
    // START TRANSACTION as TypeORM sends it (a SET TRANSACTION may follow), then the binding with the first statement.
    expect(tx.sent.startsWith('QPBEPBDES')).toBe(true);
    const rows = (await w.dataSource.query('SELECT tenant_id FROM tags WHERE label LIKE $1', [`fused-tx-${suffix}-%`])) as Array<{ tenant_id: number }>;
    expect(rows.map((r) => r.tenant_id)).toEqual(Array(10).fill(w.t2));
    // save() starts TypeORM's own transaction: its binding goes with that START TRANSACTION.
    const saved = await counted(() => em.save(Tag, { label: `fused-save-${suffix}` }));
    expect(saved.sent.match(/[SQ]/g)).toHaveLength(saved.roundTrips);
    expect(saved.roundTrips).toBe(3); // START TRANSACTION, binding + INSERT, COMMIT
    expect(await session(ds)).toEqual({ tenant: null, role: appRole, tx: null });
  });

  it('the bypass role is fused the same way; the binding is gone after the statement', async () => {
    const { ds, tenancy } = await rlsApp();
    const em = tenancy.manager(w.t1);
    await em.count(Post);
    const all = await counted(() => em.count(Post, { safe: false }));
    expect(all).toMatchObject({ result: allPosts, sent: 'PBEPBDES', roundTrips: 1 });
    expect(await counted(() => em.query('SELECT current_user AS u', [], { safe: false }))).toMatchObject({ result: [{ u: bypassRole }], roundTrips: 1 });
    expect(await session(ds)).toEqual({ tenant: null, role: appRole, tx: null });
    expect(await em.count(Post)).toBe(3);
  });

  it('opt-in preparedBinding: the binding is parsed once per connection, then only bound and executed', async () => {
    const { ds, tenancy } = await rlsApp({}, { preparedBinding: true });
    const em = tenancy.manager(w.t1);
    expect(await em.count(Post)).toBe(3);
    const again = await counted(() => em.count(Post));
    expect(again).toMatchObject({ result: 3, sent: 'BEPBDES', roundTrips: 1 });
    expect(await tenancy.manager(w.t2).count(Post)).toBe(postsOf.get(w.t2)!.length);
    // A failed statement leaves the prepared binding usable.
    await expect(em.query('SELECT 1/0 AS x WHERE $1::int > 0', [1])).rejects.toThrow(/division by zero/);
    expect(await em.count(Post)).toBe(3);
    expect(await session(ds)).toEqual({ tenant: null, role: appRole, tx: null });
  });

  it('errors fail closed and leave no binding: a failed statement, an invalid tenant id, a killed backend', async () => {
    const { ds, tenancy } = await rlsApp();
    const em = tenancy.manager(w.t1);
    await expect(em.query('SELECT 1/0 AS x WHERE $1::int > 0', [1])).rejects.toThrow(/division by zero/);
    expect(await session(ds)).toEqual({ tenant: null, role: appRole, tx: null });
    const sleeping = em.query('SELECT pg_sleep(5) WHERE $1::int > 0', [1]).then(() => undefined, (e: unknown) => e);
    for (let i = 0; i < 100; i++) {
      const rows = (await adminQuery(`SELECT pid FROM pg_stat_activity WHERE usename = $1 AND wait_event = 'PgSleep'`, [appRole])) as Array<{ pid: number }>;
      if (rows.length) {
        await adminQuery('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await sleeping).toBeInstanceOf(Error);
    expect(await session(ds)).toEqual({ tenant: null, role: appRole, tx: null });
    expect(await em.count(Post)).toBe(3);
  }, 20_000);

  it('a client-side timeout mid-statement destroys the connection; the next borrower has no binding', async () => {
    const { ds, tenancy } = await rlsApp({ query_timeout: 300 });
    const em = tenancy.manager(w.t1);
    await expect(em.query('SELECT pg_sleep(1) WHERE $1::int > 0', [1])).rejects.toThrow(/timeout/i);
    expect(await session(ds)).toEqual({ tenant: null, role: appRole, tx: null });
    expect(await em.count(Post)).toBe(3);
  });

  it('a fused statement that leaves a transaction open is refused and its connection closed', async () => {
    const Fusing = fusingClientClass(pg as unknown as PgModule, pg.Client as never, { preparedBinding: false });
    const client = new Fusing(appUrl) as unknown as pg.Client;
    await client.connect();
    setAutocommitBinding(client, { settings: [['app.tenant_id', String(w.t1)]], key: 'tenant:1' });
    await expect(client.query('BEGIN')).rejects.toThrow(UnsafeQueryError);
    await expect(client.query('SELECT 1')).rejects.toThrow();
  });

  it('a tenant id is a bound parameter of the binding: one that is not an integer fails closed in the policy (22P02)', async () => {
    const Fusing = fusingClientClass(pg as unknown as PgModule, pg.Client as never, { preparedBinding: false });
    const client = new Fusing(appUrl) as unknown as pg.Client;
    await client.connect();
    try {
      setAutocommitBinding(client, { settings: [['app.tenant_id', "42'); SELECT 1; --"]], key: 'tenant:x' });
      await expect(client.query('SELECT count(*) FROM posts WHERE id > $1', [0])).rejects.toMatchObject({ code: '22P02' });
      setAutocommitBinding(client, undefined);
      expect((await client.query(`SELECT NULLIF(current_setting('app.tenant_id', true), '') AS t, txid_current_if_assigned() AS tx`)).rows).toEqual([{ t: null, tx: null }]);
    } finally {
      await client.end();
    }
  });

  describe('fallbacks to the transaction path', () => {
    it('parameterless multi-statement raw SQL', async () => {
      const { tenancy } = await rlsApp();
      const em = tenancy.manager(w.t1);
      const multi = await counted(() => em.query('SELECT 1 AS one; SELECT count(*)::int AS n FROM posts'));
      // TypeORM returns no rows for several results; what matters is that it ran bound and in a transaction of its own.
      expect(multi.roundTrips).toBe(4); // START TRANSACTION, the binding (before a simple query), the simple query, COMMIT
    });

    it('stream() (pg-query-stream, a cursor) runs in a bound transaction', async () => {
      const { ds, tenancy } = await rlsApp();
      const stream = await tenancy.manager(w.t1).createQueryBuilder(Post, 'p').stream();
      const rows: unknown[] = [];
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (row: unknown) => rows.push(row));
        stream.once('end', resolve);
        stream.once('error', reject);
      });
      expect(rows).toHaveLength(3);
      expect(await session(ds)).toEqual({ tenant: null, role: appRole, tx: null });
    });

    it('a client created with pipeline: true', async () => {
      const { ds, tenancy } = await rlsApp({ pipeline: true });
      const em = tenancy.manager(w.t1);
      await em.count(Post);
      const count = await counted(() => em.count(Post));
      expect(count.result).toBe(3);
      expect(count.sent).not.toContain('PBEPBDES');
      expect(count.roundTrips).toBeGreaterThan(1);
      expect(await tenancy.manager(w.t2).count(Post)).toBe(postsOf.get(w.t2)!.length);
      expect(await session(ds)).toEqual({ tenant: null, role: appRole, tx: null });
    });

    it('a pg without getTransactionStatus (< 8.21)', async () => {
      class OldClient extends CountingClient {}
      Object.defineProperty(OldClient.prototype, 'getTransactionStatus', { value: undefined });
      const { ds, tenancy } = await rlsApp({ Client: OldClient });
      const em = tenancy.manager(w.t1);
      await em.count(Post);
      const count = await counted(() => em.count(Post));
      expect(count).toMatchObject({ result: 3 });
      expect(count.roundTrips).toBe(4); // today's path: START TRANSACTION, set_config, the statement, COMMIT
      expect(await session(ds)).toEqual({ tenant: null, role: appRole, tx: null });
    });

    it('pg-native (native: true): the DataSource keeps its own client class', async () => {
      const ds = new DataSource({ type: 'postgres', url: appUrl, entities: blogEntities, native: true } as never);
      new Tenancy(ds, { rowLevelSecurity: true, defaultManager: 'unscoped' });
      expect((ds.options.extra as { Client?: unknown } | undefined)?.Client).toBeUndefined();
    });
  });

  it('3 tenants, bypasses and unbound queries interleaved on a pool of 2: every row is the right tenant\'s', async () => {
    const { ds, tenancy } = await rlsApp({ max: 2 });
    const tenants = [w.t1, w.t2, 999_999];
    const expected = new Map(tenants.map((t) => [t, [...(postsOf.get(t) ?? [])].sort()]));
    let wrong = 0;
    const ops = Array.from({ length: 300 }, async (_, i) => {
      const t = tenants[i % 3]!;
      const em = tenancy.manager(t);
      switch (i % 5) {
        case 0:
        case 1: {
          const ids = (await em.find(Post)).map((p) => p.id).sort();
          if (JSON.stringify(ids) !== JSON.stringify(expected.get(t))) wrong++;
          break;
        }
        case 2:
          if ((await em.count(Post, { safe: false })) !== allPosts) wrong++;
          break;
        case 3: {
          const rows = (await ds.query('SELECT count(*)::int AS n FROM posts')) as Array<{ n: number }>;
          if (rows[0]!.n !== 0) wrong++;
          break;
        }
        default: {
          const rows = (await em.query('SELECT tenant_id FROM posts WHERE id > $1', [0])) as Array<{ tenant_id: number }>;
          if (rows.some((r) => r.tenant_id !== t) || rows.length !== expected.get(t)!.length) wrong++;
        }
      }
    });
    await Promise.all(ops);
    expect(wrong).toBe(0);
  }, 60_000);
});

describe.skipIf(!hasPostgres)('fused binding behind PgBouncer (transaction mode)', () => {
  const withBouncer = hasPostgres && pgbouncerAvailable();
  let w: BlogWorld;
  let app: RlsApp | undefined;
  let bouncer: PgBouncer | undefined;

  beforeAll(async () => {
    w = await createBlogWorld('postgres');
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    await bouncer?.stop();
    await w?.close();
  });

  it.skipIf(!withBouncer)('1,200 interleaved operations of 3 tenants, bypasses and unbound queries over 2 server connections: 0 wrong rows, no binding left', async () => {
    const t3 = await w.createTenant('third');
    await w.tenancy.manager(t3).save(Post, { title: 't3-post' });
    const port = async (roles: LoginRole[]) => {
      const url = new URL(w.db.options.type === 'postgres' ? w.db.options.url : '');
      bouncer = await startPgBouncer({ host: url.hostname, port: Number(url.port || 5432) }, roles, 2);
      return bouncer.port;
    };
    app = await startRlsApp(w.dataSource, { entities: blogEntities, prefix: 'fuse_bouncer', bypass: 'role', extra: { max: 6 }, port });
    const rows = (await w.dataSource.query('SELECT id, tenant_id FROM posts')) as Array<{ id: number; tenant_id: number }>;
    const tenants = [w.t1, w.t2, t3];
    const expected = new Map(tenants.map((t) => [t, rows.filter((r) => r.tenant_id === t).map((r) => r.id).sort((a, b) => a - b)]));
    const { tenancy, app: ds } = app;
    let wrong = 0;
    let done = 0;
    const one = async (i: number) => {
      const t = tenants[i % 3]!;
      const em = tenancy.manager(t);
      switch (i % 6) {
        case 0:
        case 1: {
          const ids = (await em.find(Post)).map((p) => p.id).sort((a, b) => a - b);
          if (JSON.stringify(ids) !== JSON.stringify(expected.get(t))) wrong++;
          break;
        }
        case 2:
          if ((await em.count(Post, { safe: false })) !== rows.length) wrong++;
          break;
        case 3: {
          // Unbound: whatever server connection it lands on carries no tenant.
          const [r] = (await ds.query(`SELECT count(*)::int AS n, NULLIF(current_setting('app.tenant_id', true), '') AS t FROM posts`)) as Array<{ n: number; t: string | null }>;
          if (r!.n !== 0 || r!.t !== null) wrong++;
          break;
        }
        case 4: {
          const got = (await em.query('SELECT tenant_id FROM posts WHERE id > $1', [0])) as Array<{ tenant_id: number }>;
          if (got.some((r) => r.tenant_id !== t) || got.length !== expected.get(t)!.length) wrong++;
          break;
        }
        default:
          if ((await em.update(Post, { id: expected.get(tenants[(i + 1) % 3]!)![0]! }, { likes: 1 })).affected !== 0) wrong++;
      }
      done++;
    };
    // 12 at a time, so operations of every kind overlap on the pool and on PgBouncer's 2 server connections.
    for (let start = 0; start < 1200; start += 12) await Promise.all(Array.from({ length: 12 }, (_, k) => one(start + k)));
    expect({ done, wrong }).toEqual({ done: 1200, wrong: 0 });
    const [left] = (await ds.query(`SELECT NULLIF(current_setting('app.tenant_id', true), '') AS t, current_user AS role`)) as Array<Record<string, unknown>>;
    expect(left).toEqual({ t: null, role: app.appRole });
  }, 120_000);
});
