import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tenancy } from '../../src/index.js';
import { blogEntities, Post, Tag, Tenant } from '../fixtures/blog.js';
import { type BlogWorld, createBlogWorld } from '../support/blog-world.js';
import { createAppRole } from '../support/app-role.js';
import { adminQuery, databaseKinds } from '../support/databases.js';

/**
 * Faults: a statement timeout inside a tenant transaction on PostgreSQL (with and
 * without row-level security), and SQLITE_BUSY between two writers on one SQLite
 * file. Each time the operation fails, nothing of it is written, and the next
 * operations on the same pool (PostgreSQL: a pool of one connection, so the next
 * borrower is the very connection that failed) are correctly scoped and carry no
 * tenant, role or timeout over.
 */

const hasPostgres = databaseKinds().includes('postgres');
const TIMEOUT = /canceling statement due to statement timeout/;

describe.skipIf(!hasPostgres)('faults on PostgreSQL: statement timeout inside tenancy.manager(t).transaction()', () => {
  const suffix = randomBytes(4).toString('hex');
  const appRole = `tenancy_faults_${suffix}`;
  let w: BlogWorld;
  let appUrl: string;
  const opened: DataSource[] = [];
  /** The admin's view of every row, for "nothing partial was written". */
  const count = async (sql: string, params: unknown[] = []) => Number(((await w.dataSource.query(sql, params)) as Array<{ n: string | number }>)[0]!.n);

  /** A DataSource with a pool of one connection (as the owner, or as the app role), and its Tenancy. */
  const poolOfOne = async (options: { asAppRole?: boolean; rowLevelSecurity?: boolean }) => {
    const url = options.asAppRole ? appUrl : w.db.options.type === 'postgres' ? w.db.options.url : '';
    const ds = new DataSource({ type: 'postgres', url, entities: blogEntities, extra: { max: 1 } } as never);
    const tenancy = new Tenancy(ds, { defaultManager: 'unscoped', ...(options.rowLevelSecurity ? { rowLevelSecurity: true as const } : {}) });
    await ds.initialize();
    opened.push(ds);
    return { ds, tenancy };
  };
  const session = async (ds: DataSource) =>
    ((await ds.query(
      "SELECT current_setting('statement_timeout') AS timeout, current_setting('app.tenant_id', true) AS tenant, current_user AS role, txid_current_if_assigned() AS tx",
    )) as Array<{ timeout: string; tenant: string | null; role: string; tx: string | null }>)[0]!;

  beforeAll(async () => {
    w = await createBlogWorld('postgres');
    appUrl = await createAppRole(w.dataSource, appRole);
  });
  afterAll(async () => {
    for (const ds of opened) if (ds.isInitialized) await ds.destroy();
    await w?.close();
    await adminQuery(`DROP ROLE IF EXISTS ${appRole}`);
  });

  it('RLS off: a slow scoped query is cancelled, the transaction rolls back whole, the connection comes back clean and scoped', async () => {
    const { ds, tenancy } = await poolOfOne({});
    const attempt = tenancy.manager(w.t1).transaction(async (tx) => {
      await tx.insert(Tag, { label: 'timeout-tag' });
      await tx.save(Post, { title: 'timeout-post', likes: 7 });
      await tx.update(Post, { title: 'acme-1' }, { likes: 99 });
      await tx.query("SET LOCAL statement_timeout = '150ms'", [], { safe: false });
      // A slow query of the tenant's own: scoped like any other, cancelled by the server.
      await tx.createQueryBuilder(Post, 'p').where('(SELECT 1 FROM pg_sleep(2)) = 1').getMany();
    });
    await expect(attempt).rejects.toThrow(TIMEOUT);
    // Nothing partial: neither the inserts nor the update before the timeout survived.
    expect(await count(`SELECT count(*) AS n FROM tags WHERE label = 'timeout-tag'`)).toBe(0);
    expect(await count(`SELECT count(*) AS n FROM posts WHERE title = 'timeout-post'`)).toBe(0);
    expect(await count(`SELECT likes AS n FROM posts WHERE title = 'acme-1'`)).toBe(1);
    // The same (only) connection: no open transaction, the timeout back to the default.
    expect(await session(ds)).toMatchObject({ timeout: '0', tx: null });
    for (let i = 0; i < 4; i++) {
      const tenant = i % 2 ? w.t1 : w.t2;
      const posts = await tenancy.manager(tenant).find(Post);
      expect(posts.length).toBeGreaterThan(0);
      expect(posts.every((p) => p.tenantId === tenant)).toBe(true);
    }
    await tenancy.manager(w.t2).insert(Tag, { label: 'after-timeout' });
    expect(((await w.dataSource.query(`SELECT tenant_id FROM tags WHERE label = 'after-timeout'`)) as Array<{ tenant_id: number }>)).toEqual([{ tenant_id: w.t2 }]);
    // A timeout in a transaction that is not the first on the connection behaves the same.
    await expect(
      tenancy.manager(w.t2).transaction(async (tx) => {
        await tx.delete(Tag, { label: 'after-timeout' });
        await tx.query("SET LOCAL statement_timeout = '100ms'", [], { safe: false });
        await tx.query('SELECT pg_sleep(2)', [], { safe: false });
      }),
    ).rejects.toThrow(TIMEOUT);
    expect(await count(`SELECT count(*) AS n FROM tags WHERE label = 'after-timeout'`)).toBe(1);
    expect((await tenancy.manager(w.t1).findBy(Tag, { label: 'after-timeout' })).length).toBe(0);
  });

  it('RLS on (NOSUPERUSER NOBYPASSRLS role): the cancelled transaction writes nothing and the next borrower of the connection has no tenant setting', async () => {
    const { ds, tenancy } = await poolOfOne({ asAppRole: true, rowLevelSecurity: true });
    const admin = w.dataSource.createQueryRunner();
    await tenancy.rls.install(admin);
    await admin.release();
    expect(await tenancy.rls.verify()).toEqual({ ok: true, problems: [], warnings: [] });

    const attempt = tenancy.manager(w.t1).transaction(async (tx) => {
      await tx.insert(Tag, { label: 'rls-timeout-tag' });
      await tx.query('UPDATE posts SET likes = 42'); // raw SQL runs under the policies: only the tenant's posts
      await tx.query("SET LOCAL statement_timeout = '150ms'");
      await tx.createQueryBuilder(Post, 'p').where('(SELECT 1 FROM pg_sleep(2)) = 1').getMany();
    });
    await expect(attempt).rejects.toThrow(TIMEOUT);
    expect(await count(`SELECT count(*) AS n FROM tags WHERE label = 'rls-timeout-tag'`)).toBe(0);
    expect(await count(`SELECT count(*) AS n FROM posts WHERE likes = 42`)).toBe(0);
    // The next borrower (the same connection): no tenant bound, no open transaction, default timeout and role.
    const after = await session(ds);
    expect(['', null]).toContain(after.tenant);
    expect(after).toMatchObject({ timeout: '0', role: appRole, tx: null });
    expect(await ds.query('SELECT * FROM posts')).toEqual([]); // no tenant: the policies show nothing
    for (let i = 0; i < 4; i++) {
      const tenant = i % 2 ? w.t2 : w.t1;
      const titles = ((await tenancy.manager(tenant).query('SELECT tenant_id FROM posts')) as Array<{ tenant_id: number }>).map((r) => r.tenant_id);
      expect(titles.length).toBeGreaterThan(0);
      expect(titles.every((t) => t === tenant)).toBe(true);
      expect(['', null]).toContain((await session(ds)).tenant);
    }
    // An autocommit operation after the fault: bound to its tenant and stamped.
    await tenancy.manager(w.t2).insert(Tag, { label: 'rls-after-timeout' });
    expect((await w.dataSource.query(`SELECT tenant_id FROM tags WHERE label = 'rls-after-timeout'`)) as unknown).toEqual([{ tenant_id: w.t2 }]);
    expect(await tenancy.manager(w.t1).findBy(Tag, { label: 'rls-after-timeout' })).toEqual([]);
  });
});

describe('faults on SQLite: SQLITE_BUSY with two writers on one database file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'typeorm-tenancy-busy-'));
  const file = join(dir, 'busy.sqlite');
  let first: DataSource;
  let second: DataSource;
  let one: Tenancy;
  let two: Tenancy;
  let t1: number;
  let t2: number;
  const BUSY = /SQLITE_BUSY|database is locked/;
  /** Rows as they are in the file, read by a third connection. */
  const inFile = async (sql: string) => {
    const reader = new DataSource({ type: 'better-sqlite3', database: file, entities: blogEntities });
    await reader.initialize();
    try {
      return (await reader.query(sql)) as unknown[];
    } finally {
      await reader.destroy();
    }
  };

  beforeAll(async () => {
    first = new DataSource({ type: 'better-sqlite3', database: file, entities: blogEntities, synchronize: true });
    one = new Tenancy(first, { defaultManager: 'unscoped' });
    await first.initialize();
    [t1, t2] = (await first.manager.save(Tenant, [{ name: 'acme' }, { name: 'globex' }])).map((t) => t.id) as [number, number];
    await one.manager(t1).save(Tag, { label: 'acme-tag' });
    await one.manager(t2).save(Tag, { label: 'globex-tag' });
    // better-sqlite3's `timeout` is SQLite's busy timeout: how long a writer waits for a lock before SQLITE_BUSY.
    second = new DataSource({ type: 'better-sqlite3', database: file, entities: blogEntities, timeout: 100 });
    two = new Tenancy(second, { defaultManager: 'unscoped' });
    await second.initialize();
  });
  afterAll(async () => {
    for (const ds of [first, second]) if (ds?.isInitialized) await ds.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a writer blocked by another write transaction fails with SQLITE_BUSY, writes nothing, and both keep working scoped', async () => {
    await one.manager(t1).transaction(async (tx) => {
      await tx.insert(Tag, { label: 'held-by-first' }); // the first connection now holds the write lock
      await expect(two.manager(t2).insert(Tag, { label: 'busy-autocommit' })).rejects.toThrow(BUSY);
      await expect(
        two.manager(t2).transaction(async (other) => {
          await other.save(Post, { title: 'busy-post', tags: [{ label: 'busy-cascade' }] } as Post);
        }),
      ).rejects.toThrow(BUSY);
      await tx.insert(Tag, { label: 'also-held-by-first' });
    });
    expect(await inFile(`SELECT label, tenant_id FROM tags WHERE label LIKE 'busy%'`)).toEqual([]);
    expect(await inFile(`SELECT title FROM posts WHERE title = 'busy-post'`)).toEqual([]);
    expect(await inFile(`SELECT label, tenant_id FROM tags WHERE label LIKE '%held-by-first' ORDER BY label`)).toEqual([
      { label: 'also-held-by-first', tenant_id: t1 },
      { label: 'held-by-first', tenant_id: t1 },
    ]);
    await checkBothWork('after-write-lock');
  });

  it('a writer whose COMMIT is blocked by a reader fails with SQLITE_BUSY and rolls back all of its statements', async () => {
    const reader = first.createQueryRunner();
    await reader.startTransaction();
    await reader.query('SELECT count(*) FROM tags'); // a shared lock until the read transaction ends
    try {
      await expect(
        two.manager(t2).transaction(async (tx) => {
          await tx.insert(Tag, [{ label: 'commit-busy-1' }, { label: 'commit-busy-2' }]);
          await tx.save(Post, { title: 'commit-busy-post', likes: 1 });
          await tx.update(Tag, { label: 'globex-tag' }, { label: 'globex-tag-renamed' });
        }),
      ).rejects.toThrow(BUSY);
    } finally {
      await reader.commitTransaction();
      await reader.release();
    }
    expect(await inFile(`SELECT label FROM tags WHERE label LIKE 'commit-busy%' OR label = 'globex-tag-renamed'`)).toEqual([]);
    expect(await inFile(`SELECT title FROM posts WHERE title = 'commit-busy-post'`)).toEqual([]);
    expect(second.createQueryRunner().isTransactionActive).toBe(false);
    await checkBothWork('after-commit-busy');
  });

  /** Both DataSources write and read again, each manager seeing only its tenant's rows. */
  async function checkBothWork(label: string): Promise<void> {
    await two.manager(t2).insert(Tag, { label: `${label}-second` });
    await one.manager(t1).insert(Tag, { label: `${label}-first` });
    await two.manager(t2).transaction(async (tx) => {
      await tx.save(Post, { title: `${label}-post`, tags: [await tx.findOneByOrFail(Tag, { label: 'globex-tag' })] } as Post);
    });
    for (const [tenancy, tenant] of [[one, t1], [one, t2], [two, t1], [two, t2]] as const) {
      const tags = await tenancy.manager(tenant).find(Tag);
      expect(tags.length).toBeGreaterThan(1);
      expect(tags.every((t) => t.tenantId === tenant)).toBe(true);
      expect(tags.map((t) => t.label)).toContain(tenant === t1 ? `${label}-first` : `${label}-second`);
      expect(tags.map((t) => t.label)).not.toContain(tenant === t1 ? `${label}-second` : `${label}-first`);
      const posts = await tenancy.manager(tenant).find(Post, { relations: { tags: true } });
      expect(posts.every((p) => p.tenantId === tenant && p.tags.every((t) => t.tenantId === tenant))).toBe(true);
    }
    expect(await inFile(`SELECT tenant_id FROM posts WHERE title = '${label}-post'`)).toEqual([{ tenant_id: t2 }]);
  }
});
