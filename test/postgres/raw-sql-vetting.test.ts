import { Raw, type DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TenantEntityManager, UnsafeQueryError } from '../../src/index.js';
import { blogEntities, Post } from '../fixtures/blog.js';
import { type RlsApp, startRlsApp } from '../support/app-role.js';
import { type BlogWorld, createBlogWorld, SqlLog } from '../support/blog-world.js';
import { adminQuery, databaseKinds } from '../support/databases.js';

/**
 * Class 5 of issue 12: raw SQL through a tenant manager under row-level security must not
 * change the tenant binding, the role, settings, session state or the transaction. Every
 * probe is refused with UnsafeQueryError before anything is sent (the app's SQL log stays
 * empty), and afterwards the one pooled connection (max: 1) shows no trace of it.
 */

const hasPostgres = databaseKinds().includes('postgres');

describe.skipIf(!hasPostgres)('raw SQL under row-level security cannot change the binding, the role or session state', () => {
  let w: BlogWorld;
  let app: RlsApp; // legacy bypassRole: the app role is a member of the BYPASSRLS role, the worst case for SET ROLE
  let loginApp: RlsApp; // bypassLogin: the app role is not a member of it
  const log = new SqlLog();

  beforeAll(async () => {
    w = await createBlogWorld('postgres');
    app = await startRlsApp(w.dataSource, { entities: blogEntities, prefix: 'vet_app', bypass: 'role', extra: { max: 1 }, logger: log });
    loginApp = await startRlsApp(w.dataSource, { entities: blogEntities, prefix: 'vet_login', bypass: 'login', extra: { max: 1 } });
  });
  afterAll(async () => {
    await app?.close();
    await loginApp?.close();
    await w?.close();
  });

  const bypass = () => app.bypassRole!;

  /** What the next borrower of the app's one pooled connection inherits, read with a plain unbound query. */
  const session = async (ds: DataSource) =>
    ((await ds.query(
      `SELECT NULLIF(current_setting('app.tenant_id', true), '') AS tenant, current_user AS role, session_user AS login,
              current_setting('search_path') AS path, current_setting('statement_timeout') AS timeout,
              txid_current_if_assigned() AS tx, (SELECT count(*)::int FROM pg_prepared_statements) AS prepared,
              (SELECT count(*)::int FROM pg_cursors) AS cursors, (SELECT count(*)::int FROM pg_listening_channels()) AS listening,
              (SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS advisory,
              (SELECT count(*)::int FROM pg_class WHERE relpersistence = 't') AS temp,
              (SELECT count(*)::int FROM posts) AS visible`,
    )) as Array<Record<string, unknown>>)[0]!;
  const clean = (role: string) => ({ tenant: null, role, login: role, path: '"$user", public', timeout: '0', tx: null, prepared: 0, cursors: 0, listening: 0, advisory: 0, temp: 0, visible: 0 });
  /** The admin's view: no app backend left inside a transaction, no prepared transaction. */
  const adminView = async () =>
    ((await adminQuery(
      `SELECT (SELECT count(*)::int FROM pg_stat_activity WHERE usename = $1 AND state LIKE 'idle in transaction%') AS open,
              (SELECT count(*)::int FROM pg_prepared_xacts) AS prepared`,
      [app.appRole],
    )) as Array<{ open: number; prepared: number }>)[0]!;

  const probes = (): string[] => [
    // The tenant setting, every way set_config can be spelled and hidden.
    `SELECT set_config('app.tenant_id', '${w.t2}', true)`,
    `SELECT set_config('app.tenant_id', '${w.t2}', false)`,
    `SELECT pg_catalog.set_config('app.tenant_id', '${w.t2}', false)`,
    `SELECT "set_config"('app.tenant_id', '${w.t2}', false)`,
    `SELECT SET_CONFIG('app.tenant_id', '${w.t2}', false)`,
    `SELECT U&"set_confi\\0067"('app.tenant_id', '${w.t2}', false)`,
    `SELECT * FROM set_config('app.tenant_id', '${w.t2}', false)`,
    `WITH x AS (SELECT set_config('app.tenant_id', '${w.t2}', false)) SELECT * FROM x`,
    `SELECT title FROM posts WHERE EXISTS (SELECT 1 FROM (SELECT set_config('app.tenant_id', '${w.t2}', true)) s)`,
    `SELECT length(set_config('app.tenant_id', '${w.t2}', false))`,
    `UPDATE posts SET title = title WHERE set_config('app.tenant_id', '${w.t2}', false) IS NOT NULL`,
    `EXPLAIN ANALYZE SELECT set_config('app.tenant_id', '${w.t2}', false)`,
    `SELECT 1 /* harmless */; SELECT set_config('app.tenant_id', '${w.t2}', false)`,
    `SET app.tenant_id = '${w.t2}'`,
    `SET SESSION app.tenant_id = '${w.t2}'`,
    `SET LOCAL app.tenant_id = '${w.t2}'`,
    `set local "app"."tenant_id" to '${w.t2}'`,
    'RESET app.tenant_id',
    'RESET ALL',
    'DISCARD ALL',
    'DISCARD TEMP',
    // The role.
    `SET ROLE ${bypass()}`,
    `SET LOCAL ROLE ${bypass()}`,
    `SET SESSION ROLE ${bypass()}`,
    `SELECT set_config('role', '${bypass()}', true)`,
    'RESET ROLE',
    `SET SESSION AUTHORIZATION ${bypass()}`,
    'SET SESSION AUTHORIZATION DEFAULT',
    // search_path and other settings.
    'SET search_path = pg_catalog',
    'SET LOCAL search_path TO pg_temp',
    "SET statement_timeout = '1s'",
    'SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY',
    `ALTER ROLE ${app.appRole} SET app.tenant_id = '${w.t2}'`,
    `ALTER DATABASE postgres SET app.tenant_id = '${w.t2}'`,
    "ALTER SYSTEM SET work_mem = '1MB'",
    // Transaction control.
    'BEGIN',
    'START TRANSACTION',
    'COMMIT',
    'END',
    'ROLLBACK',
    'ABORT',
    'SAVEPOINT s1',
    'RELEASE SAVEPOINT s1',
    'ROLLBACK TO SAVEPOINT s1',
    "PREPARE TRANSACTION 'vet'",
    "COMMIT PREPARED 'vet'",
    // Multi-statement strings and comments.
    `SELECT 1; SET ROLE ${bypass()}`,
    `SELECT 1; -- comment\nSET app.tenant_id = '${w.t2}'`,
    `/* ; */ SELECT 1 /* ; */; COMMIT`,
    // Procedural code and code we cannot see into.
    `DO $$ BEGIN PERFORM set_config('app.tenant_id', '${w.t2}', false); END $$`,
    'CALL some_procedure()',
    "LOAD 'plpgsql'",
    `SELECT query_to_xml('select set_config(''app.tenant_id'', ''${w.t2}'', false)', true, false, '')`,
    `SELECT * FROM ts_stat('select to_tsvector(set_config(''app.tenant_id'', ''${w.t2}'', false))')`,
    // Session state that outlives the transaction.
    'PREPARE p1 AS SELECT 1',
    'EXECUTE p1',
    'DEALLOCATE ALL',
    'LISTEN vet_channel',
    'DECLARE c1 CURSOR WITH HOLD FOR SELECT title FROM posts',
    'SELECT title INTO TEMP stolen FROM posts',
    'CREATE TEMP TABLE stolen AS SELECT title FROM posts',
    'SELECT pg_advisory_lock(42)',
    'SELECT pg_try_advisory_lock(1, 2)',
    // Other sessions and other statements.
    'SELECT pg_terminate_backend(1)',
    "SELECT dblink_exec('dbname=postgres', 'SET ROLE x')",
    'CREATE TABLE evil (id int)',
    'ALTER TABLE posts DISABLE ROW LEVEL SECURITY',
    'GRANT SELECT ON posts TO PUBLIC',
    'COPY posts TO STDOUT',
    'VACUUM posts',
    'SELEC garbage',
  ];

  const asTemplate = (sql: string) => Object.assign([sql], { raw: [sql] }) as unknown as TemplateStringsArray;
  const entries: Array<[string, (em: TenantEntityManager, sql: string) => Promise<unknown>]> = [
    ['em.query()', (em, sql) => em.query(sql)],
    ['em.query() with parameters', (em, sql) => em.query(sql, [])],
    ['em.sql``', (em, sql) => em.sql(asTemplate(sql))],
    ['repository.query()', (em, sql) => em.getRepository(Post).query(sql)],
    ['{ safe: false }', (em, sql) => em.query(sql, [], { safe: false })],
  ];

  it.each(entries)('%s: every probe is refused with UnsafeQueryError, nothing is sent, the connection keeps no trace', async (_entry, run) => {
    const em = app.tenancy.manager(w.t1);
    for (const sql of probes()) {
      log.clear();
      const error = await run(em, sql).then(() => undefined, (e: unknown) => e);
      expect(error, sql).toBeInstanceOf(UnsafeQueryError);
      expect((error as Error).message, sql).toMatch(/nothing was run/);
      expect(log.statements, sql).toEqual([]);
    }
    expect(await session(app.app)).toEqual(clean(app.appRole));
    expect(await adminView()).toEqual({ open: 0, prepared: 0 });
  });

  it('inside em.transaction(): every probe is refused before it is sent; the transaction goes on under its binding', async () => {
    const em = app.tenancy.manager(w.t1);
    await em.transaction(async (tx) => {
      for (const sql of probes()) {
        log.clear();
        await expect(tx.query(sql), sql).rejects.toBeInstanceOf(UnsafeQueryError);
        await expect(tx.query(sql, [], { safe: false }), sql).rejects.toBeInstanceOf(UnsafeQueryError);
        expect(log.statements, sql).toEqual([]);
      }
      const raw = (await tx.query(`SELECT NULLIF(current_setting('app.tenant_id', true), '') AS tenant, current_user AS role`)) as Array<{ tenant: string; role: string }>;
      expect(raw).toEqual([{ tenant: String(w.t1), role: app.appRole }]);
      expect(((await tx.query('SELECT title FROM posts ORDER BY title')) as Array<{ title: string }>).map((r) => r.title)).toEqual(['acme-1', 'acme-2', 'acme-poisoned']);
    });
    expect(await session(app.app)).toEqual(clean(app.appRole));
  });

  it('SQL fragments in builders (Raw(), where(), stream()) are vetted on the bound connection the same way', async () => {
    const em = app.tenancy.manager(w.t1);
    const evil = `set_config('app.tenant_id', '${w.t2}', false)`;
    await expect(em.find(Post, { where: { title: Raw((a) => `${a} <> ${evil}`) } })).rejects.toBeInstanceOf(UnsafeQueryError);
    await expect(em.createQueryBuilder(Post, 'p').where(`${evil} IS NOT NULL`).getMany()).rejects.toBeInstanceOf(UnsafeQueryError);
    await expect(em.createQueryBuilder(Post, 'p').select(`${evil}`, 'x').getRawMany()).rejects.toBeInstanceOf(UnsafeQueryError);
    await expect(em.createQueryBuilder(Post, 'p').where(`${evil} IS NOT NULL`).stream()).rejects.toBeInstanceOf(UnsafeQueryError);
    await expect(em.createQueryBuilder().update(Post).set({ title: () => `title || ${evil}` }).where('id > 0').execute()).rejects.toBeInstanceOf(UnsafeQueryError);
    await expect(
      em.transaction(async (tx) => {
        await tx.find(Post, { where: { title: Raw((a) => `${a} <> set_config('role', '${bypass()}', true)`) } });
      }),
    ).rejects.toBeInstanceOf(UnsafeQueryError);
    expect(await session(app.app)).toEqual(clean(app.appRole));
    expect(await adminView()).toEqual({ open: 0, prepared: 0 });
  });

  it('data access, read-only settings, transaction-local timeouts and transaction-scoped locks and cursors still run', async () => {
    const em = app.tenancy.manager(w.t1);
    expect(await em.query(`SELECT current_setting('app.tenant_id') AS t`)).toEqual([{ t: String(w.t1) }]);
    expect(await em.query('SHOW search_path')).toEqual([{ search_path: '"$user", public' }]);
    expect(await em.query('SELECT pg_advisory_xact_lock(42) AS l')).toEqual([{ l: '' }]);
    await em.query('UPDATE posts SET likes = likes WHERE title = $1', ['acme-1']);
    expect(((await em.query('EXPLAIN SELECT * FROM posts')) as unknown[]).length).toBeGreaterThan(0);
    await em.query('SELECT 1 AS a; SELECT 2 AS b'); // several statements, each vetted
    await em.transaction(async (tx) => {
      await tx.query("SET LOCAL statement_timeout = '5s'");
      await tx.query('SET CONSTRAINTS ALL DEFERRED');
      await tx.query('LOCK TABLE tags IN SHARE MODE');
      await tx.query('DECLARE c2 CURSOR FOR SELECT title FROM posts ORDER BY title');
      expect(await tx.query('FETCH 1 FROM c2')).toEqual([{ title: 'acme-1' }]);
      await tx.query('CLOSE c2');
      expect(await tx.query(`SELECT current_setting('statement_timeout') AS t`)).toEqual([{ t: '5s' }]);
    });
    expect(await session(app.app)).toEqual(clean(app.appRole));
  });
});
