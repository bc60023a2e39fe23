import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MissingTenantError, Tenancy, TenancyConfigError, UnsafeQueryError } from '../../src/index.js';
import { blogEntities, Comment, Post, Tag, Tenant, User } from '../fixtures/blog.js';
import { createBlogWorld, SqlLog, type BlogWorld } from '../support/blog-world.js';
import { createAppAndBypassRoles } from '../support/app-role.js';
import { adminQuery, databaseKinds } from '../support/databases.js';

const hasPostgres = databaseKinds().includes('postgres');

describe.skipIf(!hasPostgres)('PostgreSQL row-level security', () => {
  const suffix = randomBytes(4).toString('hex');
  const appRole = `tenancy_app_${suffix}`;
  const bypassRole = `tenancy_bypass_${suffix}`;
  let w: BlogWorld; // admin (superuser, table owner) world with the seeded, poisoned data
  let appUrl: string;
  let app: DataSource;
  let tenancy: Tenancy;
  let log: SqlLog;
  const opened: DataSource[] = [];

  const appDataSource = (extra: Record<string, unknown> = {}, logger?: SqlLog) => {
    const ds = new DataSource({ type: 'postgres', url: appUrl, entities: blogEntities, logger, logging: !!logger, ...extra } as never);
    opened.push(ds);
    return ds;
  };

  beforeAll(async () => {
    w = await createBlogWorld('postgres');
    appUrl = await createAppAndBypassRoles(w.dataSource, appRole, bypassRole);
    log = new SqlLog();
    app = appDataSource({ extra: { max: 2 } }, log);
    tenancy = new Tenancy(app, { rowLevelSecurity: { bypassRole }, defaultManager: 'unscoped' });
    await app.initialize();
    const adminRunner = w.dataSource.createQueryRunner();
    await tenancy.rls.install(adminRunner);
    await adminRunner.release();
  });
  afterAll(async () => {
    for (const ds of opened) if (ds.isInitialized) await ds.destroy();
    await w?.close();
    await adminQuery(`DROP ROLE IF EXISTS ${appRole}`);
    await adminQuery(`DROP ROLE IF EXISTS ${bypassRole}`);
  });

  it('statements(): ENABLE, FORCE and one parameter-free policy per scoped table, typed like the key (no column cast)', () => {
    const { up, down } = tenancy.rls.statements();
    expect(up.filter((s) => s.includes('"posts"'))).toEqual([
      'ALTER TABLE "posts" ENABLE ROW LEVEL SECURITY',
      'ALTER TABLE "posts" FORCE ROW LEVEL SECURITY',
      'DROP POLICY IF EXISTS "tenancy_isolation" ON "posts"',
      `CREATE POLICY "tenancy_isolation" ON "posts" USING ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')::integer) WITH CHECK ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')::integer)`,
    ]);
    expect(down.filter((s) => s.includes('"posts"'))).toEqual([
      'DROP POLICY IF EXISTS "tenancy_isolation" ON "posts"',
      'ALTER TABLE "posts" NO FORCE ROW LEVEL SECURITY',
      'ALTER TABLE "posts" DISABLE ROW LEVEL SECURITY',
    ]);
    expect(up.join('\n')).not.toMatch(/tenant_id"?::text/);
    expect(up.filter((s) => s.startsWith('CREATE POLICY')).map((s) => s.split('"')[3])).toEqual(['categories', 'comments', 'folders', 'posts', 'settings', 'tags', 'tenants', 'tenants', 'tenants']);
    // The tenant table (rule 9): a bound transaction sees and updates its own row only, and creates or deletes none.
    const unbound = `NULLIF(current_setting('app.tenant_id', true), '') IS NULL`;
    const own = `(${unbound}) OR ("id" = NULLIF(current_setting('app.tenant_id', true), '')::integer)`;
    expect(up.filter((s) => s.includes('"tenants"'))).toEqual([
      'ALTER TABLE "tenants" ENABLE ROW LEVEL SECURITY',
      'ALTER TABLE "tenants" FORCE ROW LEVEL SECURITY',
      'DROP POLICY IF EXISTS "tenancy_isolation" ON "tenants"',
      `CREATE POLICY "tenancy_isolation" ON "tenants" USING (${own}) WITH CHECK (${own})`,
      'DROP POLICY IF EXISTS "tenancy_isolation_insert" ON "tenants"',
      `CREATE POLICY "tenancy_isolation_insert" ON "tenants" AS RESTRICTIVE FOR INSERT WITH CHECK (${unbound})`,
      'DROP POLICY IF EXISTS "tenancy_isolation_delete" ON "tenants"',
      `CREATE POLICY "tenancy_isolation_delete" ON "tenants" AS RESTRICTIVE FOR DELETE USING (${unbound})`,
    ]);
    expect(down.filter((s) => s.includes('"tenants"'))).toEqual([
      'DROP POLICY IF EXISTS "tenancy_isolation_delete" ON "tenants"',
      'DROP POLICY IF EXISTS "tenancy_isolation_insert" ON "tenants"',
      'DROP POLICY IF EXISTS "tenancy_isolation" ON "tenants"',
      'ALTER TABLE "tenants" NO FORCE ROW LEVEL SECURITY',
      'ALTER TABLE "tenants" DISABLE ROW LEVEL SECURITY',
    ]);
  });

  it("raw SQL of a tenant reads, renames, creates and deletes no other tenant's row; the catalog keeps the whole table", async () => {
    const em = tenancy.manager(w.t1);
    expect(((await em.query('SELECT id FROM tenants ORDER BY id')) as Array<{ id: number }>).map((r) => r.id)).toEqual([w.t1]);
    await em.query('UPDATE tenants SET name = $1 WHERE id = $2', ['pwned', w.t2]);
    await expect(em.query('INSERT INTO tenants (name) VALUES ($1)', ['smuggled'])).rejects.toThrow(/row-level security/);
    await em.query('DELETE FROM tenants WHERE id IN ($1, $2)', [w.t1, w.t2]);
    const rows = await w.dataSource.manager.find(Tenant, { order: { id: 'ASC' } });
    expect(rows.map((t) => t.name)).toEqual(['acme', 'globex']);
    // Unbound (the tenant catalog, an administrator): every tenant row.
    expect((await tenancy.tenants.list()).map((t) => (t as Tenant).id).sort()).toEqual([w.t1, w.t2].sort());
    expect(await tenancy.tenants.exists(w.t2)).toBe(true);
    // ... also inside another tenant's run(): the catalog works on connections of its own.
    expect(await tenancy.run(w.t1, () => tenancy.tenants.exists(w.t2, { maxAge: 0 }))).toBe(true);
  });

  it('verify(): ok as the app role; a superuser connection is reported', async () => {
    // The app role is a member of the bypass role, as bypassRole requires: a warning, not a problem.
    const report = await tenancy.rls.verify();
    expect([report.ok, report.problems, report.warnings.map((p) => [p.kind, p.subject])]).toEqual([true, [], [['member-of-bypass-role', bypassRole]]]);
    const adminRunner = w.dataSource.createQueryRunner();
    const asAdmin = await tenancy.rls.verify(adminRunner);
    await adminRunner.release();
    expect(asAdmin.ok).toBe(false);
    expect(asAdmin.problems.map((p) => p.kind)).toEqual(['role-bypasses-rls']);
  });

  it('raw SQL through a tenant manager runs under the binding and sees only the tenant', async () => {
    const rows = (await tenancy.manager(w.t1).query('SELECT title FROM posts ORDER BY title')) as Array<{ title: string }>;
    expect(rows.map((r) => r.title)).toEqual(['acme-1', 'acme-2', 'acme-poisoned']);
    const joined = (await tenancy.manager(w.t2).query('SELECT p.title FROM users u JOIN posts p ON p."authorId" = u.id')) as unknown[];
    expect(joined).toHaveLength(2);
  });

  it('raw INSERT / UPDATE naming another tenant are rejected by the database; UPDATE of its rows changes nothing', async () => {
    const em = tenancy.manager(w.t1);
    await expect(em.query('INSERT INTO posts (title, tenant_id) VALUES ($1, $2)', ['smuggled', w.t2])).rejects.toThrow(/row-level security/);
    await expect(em.query('UPDATE posts SET tenant_id = $1 WHERE title = $2', [w.t2, 'acme-1'])).rejects.toThrow(/row-level security/);
    await em.query('UPDATE posts SET title = $1 WHERE id = $2', ['pwned', w.posts.g1.id]);
    expect((await w.dataSource.manager.findOneByOrFail(Post, { id: w.posts.g1.id })).title).toBe('globex-1');
    expect(await w.dataSource.manager.countBy(Post, { title: 'smuggled' })).toBe(0);
  });

  it('the default manager without a binding sees nothing', async () => {
    expect(await app.manager.find(Post)).toEqual([]);
    expect(await app.query('SELECT * FROM comments')).toEqual([]);
    expect(await app.manager.count(User)).toBe(2); // shared tables have no policy
  });

  it('tenant values that look like SQL are data: refused before any statement, or failing the cast', async () => {
    log.clear();
    for (const evil of ['1; DROP TABLE posts', "x'; set app.tenant_id='2", "1' OR '1'='1"]) {
      expect(() => tenancy.manager(evil)).toThrow(MissingTenantError);
    }
    expect(log.statements).toEqual([]);
    // The setting itself is a bound parameter: even a hostile value set directly only fails the integer cast.
    const runner = app.createQueryRunner();
    await runner.startTransaction();
    await runner.query('SELECT set_config($1, $2, true)', ['app.tenant_id', "x'; set app.tenant_id='2"]);
    await expect(runner.query('SELECT * FROM posts')).rejects.toThrow(/invalid input syntax/);
    await runner.rollbackTransaction();
    await runner.release();
    expect(await w.dataSource.manager.count(Post)).toBeGreaterThan(0);
  });

  it('binding is transaction-local: a pool of 1 alternating tenants, after commit, rollback and failure, never inherits a tenant', async () => {
    const one = appDataSource({ extra: { max: 1 } });
    const t = new Tenancy(one, { rowLevelSecurity: true, defaultManager: 'unscoped' });
    await one.initialize();
    const setting = async () => ((await one.query("SELECT current_setting('app.tenant_id', true) AS s")) as Array<{ s: string | null }>)[0]!.s;
    for (let i = 0; i < 10; i++) {
      const tenant = i % 2 ? w.t1 : w.t2;
      const seen = await t.manager(tenant).find(Post);
      expect(seen.every((p) => p.tenantId === tenant)).toBe(true);
      expect(['', null]).toContain(await setting());
    }
    await expect(t.manager(w.t1).transaction(async (tx) => {
      await tx.find(Post);
      throw new Error('rolled back');
    })).rejects.toThrow('rolled back');
    expect(['', null]).toContain(await setting());
    await expect(t.manager(w.t1).query('SELECT * FROM no_such_table')).rejects.toThrow();
    expect(['', null]).toContain(await setting());
    expect(await one.query('SELECT * FROM posts')).toEqual([]);
  });

  it('200 interleaved operations of 3 tenants over a pool of 2: no cross-talk', async () => {
    const third = (await w.dataSource.manager.save(w.dataSource.getMetadata('Tenant').target as never, { name: 'initech' } as never)) as unknown as { id: number };
    const tenants = [w.t1, w.t2, third.id];
    const results = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const tenant = tenants[i % 3]!;
        const em = tenancy.manager(tenant);
        if (i % 4 === 0) await em.insert(Tag, { label: `tag-${tenant}-${i}` });
        const rows = i % 2
          ? ((await em.query('SELECT tenant_id FROM tags')) as Array<{ tenant_id: number }>).map((r) => r.tenant_id)
          : (await em.transaction((tx) => tx.find(Tag))).map((r) => r.tenantId);
        return rows.every((t) => t === tenant);
      }),
    );
    expect(results.every(Boolean)).toBe(true);
  });

  it('a backend killed mid-transaction: the operation fails, the app recovers and stays scoped', async () => {
    const em = tenancy.manager(w.t2);
    await expect(
      em.transaction(async (tx) => {
        const [{ pid }] = (await tx.query('SELECT pg_backend_pid() AS pid')) as Array<{ pid: number }>;
        await w.dataSource.query('SELECT pg_terminate_backend($1)', [pid]);
        await tx.query('SELECT 1');
      }),
    ).rejects.toThrow();
    for (let i = 0; i < 3; i++) {
      const titles = (await em.find(Post)).map((p) => p.title).sort();
      expect(titles).toEqual(['globex-1', 'globex-2']);
    }
  });

  it('with the app-side filter switched off (test-only), the database alone keeps lazy relations, relation ids and query() in the tenant', async () => {
    const registry = tenancy.scopeRegistry;
    registry.appSideCriteria = false;
    try {
      const em = tenancy.manager(w.t1);
      expect(em.createQueryBuilder(Post, 'p').getSql()).not.toMatch(/"tenant_id" = /);
      expect((await em.find(Post)).map((p) => p.title).sort()).toEqual(['acme-1', 'acme-2', 'acme-poisoned']);
      const comment = await em.findOneByOrFail(Comment, { body: 'acme-c-poisoned' });
      expect(await comment.pinned).toBeNull();
      const users = await em.find(User, { order: { id: 'ASC' } });
      expect(users.flatMap((u) => u.postIds)).not.toContain(w.posts.g1.id);
      const poisoned = await em.findOneOrFail(Post, { where: { title: 'acme-poisoned' }, relations: { tags: true, category: true } });
      expect([poisoned.tags, poisoned.category]).toEqual([[], null]);
      expect((await em.query('SELECT count(*)::int AS n FROM posts')) as unknown).toEqual([{ n: 3 }]);
    } finally {
      registry.appSideCriteria = true;
    }
  });

  it('{ safe: false } switches to the bypass role inside its transaction; without a bypass role it is refused', async () => {
    const em = tenancy.manager(w.t1);
    expect(await em.count(Post, { safe: false })).toBe(5);
    expect(((await em.query('SELECT count(*)::int AS n FROM posts', [], { safe: false })) as Array<{ n: number }>)[0]!.n).toBe(5);
    expect(((await app.query('SELECT current_user AS u')) as Array<{ u: string }>)[0]!.u).toBe(appRole); // SET LOCAL ended with it
    // A bypass and then a scoped operation in one transaction: the policies apply again after it.
    await em.transaction(async (tx) => {
      const raw = async (sql: string) => ((await tx.queryRunner!.query(sql)) as Array<Record<string, unknown>>)[0]!;
      expect(await tx.count(Post, { safe: false })).toBe(5);
      expect((await raw('SELECT current_user AS u')).u).toBe(bypassRole);
      expect(await tx.count(Post)).toBe(3);
      expect((await raw('SELECT current_user AS u')).u).toBe(appRole);
      expect(Number((await raw('SELECT count(*) AS n FROM posts')).n)).toBe(3);
    });
    // A savepoint rolled back undoes its own binding: the next statement binds again.
    await em.transaction(async (tx) => {
      const raw = async (sql: string) => ((await tx.queryRunner!.query(sql)) as Array<Record<string, unknown>>)[0]!;
      expect(await tx.count(Post, { safe: false })).toBe(5);
      await tx.queryRunner!.startTransaction(); // SAVEPOINT
      expect(await tx.count(Post)).toBe(3);
      await tx.queryRunner!.rollbackTransaction(); // ROLLBACK TO SAVEPOINT: the bypass role is back
      expect(((await tx.query('SELECT count(*)::int AS n FROM posts')) as Array<{ n: number }>)[0]!.n).toBe(3);
      expect((await raw('SELECT current_user AS u')).u).toBe(appRole);
    });
    // Operations started together in one transaction: with the same binding they share it; a bypass and a
    // scoped operation at once are refused (their statements would interleave with each other's role).
    const count = (rows: unknown) => (rows as Array<{ n: number }>)[0]!.n;
    for (const order of ['bypass first', 'scoped first']) {
      await em.transaction(async (tx) => {
        const scoped = () => tx.query('SELECT count(*)::int AS n FROM posts');
        const bypassed = () => tx.query('SELECT count(*)::int AS n FROM posts', [], { safe: false });
        const both = order === 'bypass first' ? [bypassed(), scoped()] : [scoped(), bypassed()];
        const [first, second] = await Promise.allSettled(both);
        expect([first.status, second.status]).toEqual(['fulfilled', 'rejected']);
        expect(count((first as PromiseFulfilledResult<unknown>).value)).toBe(order === 'bypass first' ? 5 : 3);
        expect((second as PromiseRejectedResult).reason).toBeInstanceOf(UnsafeQueryError);
        expect((await Promise.all([scoped(), scoped(), tx.count(Post)])).map((r) => (typeof r === 'number' ? r : count(r)))).toEqual([3, 3, 3]);
      });
    }
    // Two bypasses started together: the second waits for the first one's binding to be in force.
    await em.transaction(async (tx) => {
      const bypassed = () => tx.query('SELECT count(*)::int AS n FROM posts', [], { safe: false });
      expect((await Promise.all([bypassed(), bypassed(), tx.count(Post, { safe: false })])).map((r) => (typeof r === 'number' ? r : count(r)))).toEqual([5, 5, 5]);
    });
    const strict = appDataSource();
    const noBypass = new Tenancy(strict, { rowLevelSecurity: true, defaultManager: 'unscoped' });
    await strict.initialize();
    await expect(noBypass.manager(w.t1).find(Post, { safe: false })).rejects.toBeInstanceOf(UnsafeQueryError);
    expect(() => noBypass.manager(w.t1).createQueryBuilder(Post, 'p', { safe: false })).toThrow(/bypassRole/);
  });

  /** Logged in as the table owner (a superuser), acting as the app role: after a bypass the policies must apply again. */
  const ownerActingAsApp = async (extra: Record<string, unknown>, beforeUse: (ds: DataSource) => Promise<void> = async () => undefined) => {
    const ownerUrl = w.db.options.type === 'postgres' ? w.db.options.url : '';
    const ds = new DataSource({ type: 'postgres', url: ownerUrl, entities: blogEntities, extra } as never);
    opened.push(ds);
    const owned = new Tenancy(ds, { rowLevelSecurity: { bypassRole }, defaultManager: 'unscoped' });
    await ds.initialize();
    await beforeUse(ds);
    await owned.manager(w.t1).transaction(async (tx) => {
      const raw = async (sql: string) => ((await tx.queryRunner!.query(sql)) as Array<Record<string, unknown>>)[0]!;
      expect((await raw('SELECT current_user AS u')).u).toBe(appRole);
      expect(await tx.count(Post, { safe: false })).toBe(5);
      expect(await tx.count(Post)).toBe(3);
      expect((await raw('SELECT current_user AS u')).u).toBe(appRole);
      expect(Number((await raw('SELECT count(*) AS n FROM posts')).n)).toBe(3);
    });
  };

  it('a connection whose role comes from its options (-c role=...) gets that role back after a bypass, not its login role', async () => {
    await ownerActingAsApp({ options: `-c role=${appRole}` });
  });

  it('a role set by the pool on each new connection (SET ROLE) comes back after a bypass, not the login role', async () => {
    await ownerActingAsApp({ max: 1, idleTimeoutMillis: 10 }, async (ds) => {
      const pool = (ds.driver as unknown as { master: { on(event: 'connect', fn: (client: { query(sql: string): unknown }) => void): void } }).master;
      pool.on('connect', (client) => void client.query(`SET ROLE ${appRole}`));
      await new Promise((resolve) => setTimeout(resolve, 100)); // the connection initialize() made has closed: the next one runs the hook
    });
  });

  it('a bypass whose role cannot be taken fails without keeping a pooled connection', async () => {
    const ds = appDataSource({ extra: { max: 2 } });
    const broken = new Tenancy(ds, { rowLevelSecurity: { bypassRole: `${bypassRole}_missing` }, defaultManager: 'unscoped' });
    await ds.initialize();
    for (let i = 0; i < 6; i++) await expect(broken.manager(w.t1).count(Post, { safe: false })).rejects.toThrow(/role/);
    // Every failed attempt rolled back and gave its connection back: the pool of 2 still serves.
    expect(await broken.manager(w.t1).count(Post)).toBe(3);
  }, 20_000);

  it('round trips: an autocommit statement carries its binding (no BEGIN, set_config or COMMIT of its own); a transaction binds with its START TRANSACTION', async () => {
    // The binding travels in the statement's own round trip (fusing-client.ts), below TypeORM's
    // logger: test/postgres/fused-binding.test.ts counts it on the wire.
    const em = tenancy.manager(w.t1);
    log.clear();
    await em.findOneBy(Tag, { label: 'acme-tag' });
    expect(log.statements.map((s) => s.split(' ').slice(0, 2).join(' '))).toEqual(['SELECT "Tag"."id"']);
    log.clear();
    await em.transaction(async (tx) => {
      await tx.findOneBy(Post, { id: w.posts.a1.id });
      await tx.count(Post);
      await tx.save(Tag, { label: 'in-tx' });
    });
    expect(log.statements.filter((s) => s.includes('set_config'))).toHaveLength(0);
    expect(log.statements[0]).toBe('START TRANSACTION');
    log.clear();
    await em.save(Tag, { label: 'saved' });
    expect(log.statements.filter((s) => s.includes('set_config'))).toHaveLength(0);
    expect(log.statements.filter((s) => s === 'START TRANSACTION')).toHaveLength(1);
  });

  it('drift, missing FORCE and a missing tenant index are reported; verifyOnStartup refuses to start', async () => {
    await w.dataSource.query('DROP POLICY "tenancy_isolation" ON "tags"');
    await w.dataSource.query(`CREATE POLICY "tenancy_isolation" ON "tags" USING (true)`);
    await w.dataSource.query('ALTER TABLE "comments" NO FORCE ROW LEVEL SECURITY');
    const index = ((await w.dataSource.query(
      `SELECT indexname FROM pg_indexes WHERE tablename = 'settings' AND indexdef LIKE '%(tenant_id)%'`,
    )) as Array<{ indexname: string }>)[0]!.indexname;
    await w.dataSource.query(`DROP INDEX "${index}"`);
    const report = await tenancy.rls.verify();
    expect(report.problems.map((p) => [p.kind, p.subject]).sort()).toEqual([
      ['no-tenant-index', '"settings"'],
      ['not-forced', '"comments"'],
      ['policy-drift', '"tags"'],
    ]);
    const strict = appDataSource();
    new Tenancy(strict, { rowLevelSecurity: { verifyOnStartup: true } });
    await expect(strict.initialize()).rejects.toBeInstanceOf(TenancyConfigError);
    expect(strict.isInitialized).toBe(false);
    // install() is idempotent and repairs the policies.
    const adminRunner = w.dataSource.createQueryRunner();
    await tenancy.rls.install(adminRunner);
    await tenancy.rls.install(adminRunner);
    await adminRunner.release();
    expect((await tenancy.rls.verify()).problems.map((p) => p.kind)).toEqual(['no-tenant-index']);
  });

  it('migration(): a TypeORM migration that installs and removes the policies; migrationSource() writes them out', async () => {
    const Migration = tenancy.rls.migration('TenancyRls1700000000001');
    const runner = w.dataSource.createQueryRunner();
    await new Migration().down(runner);
    expect(((await runner.query(`SELECT count(*)::int AS n FROM pg_policy WHERE polname = 'tenancy_isolation'`)) as Array<{ n: number }>)[0]!.n).toBe(0);
    await new Migration().up(runner);
    expect(((await runner.query(`SELECT count(*)::int AS n FROM pg_policy WHERE polname = 'tenancy_isolation'`)) as Array<{ n: number }>)[0]!.n).toBe(7);
    await runner.release();
    const source = tenancy.rls.migrationSource('AddTenantPolicies1700000000002');
    expect(source).toContain('export class AddTenantPolicies1700000000002 implements MigrationInterface');
    expect(source).toContain('await queryRunner.query("ALTER TABLE \\"posts\\" FORCE ROW LEVEL SECURITY");');
  });
});

describe('row-level security configuration', () => {
  it('is refused on a driver other than PostgreSQL, naming the driver; a bad setting name is refused', () => {
    const sqlite = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: blogEntities });
    expect(() => new Tenancy(sqlite, { rowLevelSecurity: true })).toThrow(/better-sqlite3/);
    const pg = new DataSource({ type: 'postgres', url: 'postgres://nobody@127.0.0.1:1/none', entities: blogEntities });
    expect(() => new Tenancy(pg, { rowLevelSecurity: { setting: "app.tenant'; drop" } })).toThrow(TenancyConfigError);
    expect(() => new Tenancy(pg, { rowLevelSecurity: { bypassRole: 'x"; drop' } })).toThrow(TenancyConfigError);
    expect(() => new Tenancy(sqlite).rls).toThrow(TenancyConfigError);
  });
});
