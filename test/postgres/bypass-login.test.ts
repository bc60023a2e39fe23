import type { ReadStream } from 'typeorm/platform/PlatformTools.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnsafeQueryError } from '../../src/index.js';
import { blogEntities, Post, Tag } from '../fixtures/blog.js';
import { type RlsApp, startRlsApp } from '../support/app-role.js';
import { type BlogWorld, createBlogWorld, SqlLog } from '../support/blog-world.js';
import { adminQuery, databaseKinds } from '../support/databases.js';

/**
 * `{ safe: false }` under row-level security through a login of its own (`bypassLogin`):
 * the application role is not a member of any BYPASSRLS role, so nothing that runs on the
 * application's connections — vetted raw SQL, or a function the vetting cannot see into —
 * can take the bypass.
 */

const hasPostgres = databaseKinds().includes('postgres');

describe.skipIf(!hasPostgres)('rowLevelSecurity.bypassLogin', () => {
  let w: BlogWorld;
  let app: RlsApp;
  const log = new SqlLog();

  beforeAll(async () => {
    w = await createBlogWorld('postgres');
    app = await startRlsApp(w.dataSource, { entities: blogEntities, prefix: 'login_app', bypass: 'login', extra: { max: 1 }, logger: log });
    // Code an administrator installed, which the raw SQL vetting cannot see into.
    await w.dataSource.query(`CREATE FUNCTION become(r text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN EXECUTE format('SET ROLE %I', r); RETURN current_user; END $$`);
  });
  afterAll(async () => {
    await app?.close();
    await w?.close();
  });

  const session = async () =>
    ((await app.app.query(`SELECT NULLIF(current_setting('app.tenant_id', true), '') AS tenant, current_user AS role, txid_current_if_assigned() AS tx`)) as Array<
      Record<string, unknown>
    >)[0]!;

  it('verify(): ok, with no warning: the app role is a member of no BYPASSRLS role, the bypass login connects and is BYPASSRLS', async () => {
    expect(await app.tenancy.rls.verify()).toEqual({ ok: true, problems: [], warnings: [] });
  });

  it('{ safe: false } reads every tenant on its own connection; the app connection never switches role', async () => {
    const em = app.tenancy.manager(w.t1);
    log.clear();
    expect(await em.count(Post, { safe: false })).toBe(5);
    expect(await em.query('SELECT count(*)::int AS n FROM posts', [], { safe: false })).toEqual([{ n: 5 }]);
    expect(await em.createQueryBuilder(Post, 'p', { safe: false }).getCount()).toBe(5);
    const streamed: unknown[] = [];
    const stream: ReadStream = await em.createQueryBuilder(Post, 'p', { safe: false }).stream();
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (row: unknown) => streamed.push(row));
      stream.once('end', resolve);
      stream.once('error', reject);
    });
    expect(streamed).toHaveLength(5);
    expect(log.statements.filter((s) => /set_config|ROLE/i.test(s) && !/^SELECT set_config\(\$1, \$2, true\)$/.test(s))).toEqual([]);
    // The bypass ran as the bypass login, not as the app role.
    expect(await em.query('SELECT current_user AS u', [], { safe: false })).toEqual([{ u: app.bypassRole }]);
    expect(await em.query('SELECT current_user AS u')).toEqual([{ u: app.appRole }]);
    expect(await session()).toEqual({ tenant: null, role: app.appRole, tx: null });
    // Scoped operations are unaffected.
    expect(await em.count(Post)).toBe(3);
  });

  it('the app role cannot reach the bypass, not even through a function the vetting cannot see into', async () => {
    const em = app.tenancy.manager(w.t1);
    // A function call is not refused by the vetting (its body is opaque); the database refuses the role.
    await expect(em.query('SELECT become($1) AS r', [app.bypassRole])).rejects.toThrow(/permission denied to set role/);
    await expect(app.app.query(`SET ROLE ${app.bypassRole}`)).rejects.toThrow(/permission denied to set role/);
    expect(await session()).toEqual({ tenant: null, role: app.appRole, tx: null });
    expect(await em.query('SELECT count(*)::int AS n FROM posts')).toEqual([{ n: 3 }]);
  });

  it('{ safe: false } inside a tenant transaction is refused (it cannot move to another connection), nothing changes', async () => {
    const em = app.tenancy.manager(w.t1);
    const before = await w.dataSource.manager.count(Tag);
    const error = await em
      .transaction(async (tx) => {
        await tx.insert(Tag, { label: 'in-tx' });
        await tx.count(Post, { safe: false });
      })
      .then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(UnsafeQueryError);
    expect((error as Error).message).toMatch(/bypassRole/);
    expect(await w.dataSource.manager.count(Tag)).toBe(before);
    expect(await session()).toEqual({ tenant: null, role: app.appRole, tx: null });
  });

  it('verify() reports an app role that can switch to a BYPASSRLS role, and a bypass login without BYPASSRLS', async () => {
    const extra = `${app.appRole}_extra`;
    await adminQuery(`CREATE ROLE ${extra} NOLOGIN BYPASSRLS`);
    await adminQuery(`GRANT ${extra} TO ${app.appRole}`);
    await adminQuery(`ALTER ROLE ${app.bypassRole} NOBYPASSRLS`);
    try {
      const report = await app.tenancy.rls.verify();
      expect(report.ok).toBe(false);
      expect(report.problems.map((p) => [p.kind, p.subject])).toEqual([
        ['role-can-bypass-rls', extra],
        ['bypass-login', app.bypassRole],
      ]);
    } finally {
      await adminQuery(`ALTER ROLE ${app.bypassRole} BYPASSRLS`);
      await adminQuery(`DROP ROLE ${extra}`);
    }
  });

  it('the bypass pool closes with the DataSource', async () => {
    const other = await startRlsApp(w.dataSource, { entities: blogEntities, prefix: 'login_close', bypass: 'login' });
    expect(await other.tenancy.manager(w.t1).count(Post, { safe: false })).toBe(5);
    const backends = async () =>
      ((await adminQuery('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [other.bypassRole])) as Array<{ n: number }>)[0]!.n;
    expect(await backends()).toBe(1);
    await other.app.destroy();
    for (let i = 0; i < 50 && (await backends()) > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await backends()).toBe(0);
    await other.close();
  });
});
