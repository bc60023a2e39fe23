import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, type Logger } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BypassEvent, Tenancy, type TenancyLogEvent, UnsafeQueryError } from '../src/index.js';
import { blogEntities, Post, Tenant } from './fixtures/blog.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from './support/databases.js';

// Rule 11 / issue 13.6: every { safe: false } operation is reported to onBypass, with the
// caller's own stack frame; a throwing hook refuses it; the logger sees bypasses and refusals.

const thisFile = 'audit.test.ts';

describe.each(databaseKinds())('the bypass audit on %s', (kind) => {
  let db: TestDatabase;
  let ds: DataSource;
  let tenancy: Tenancy;
  let t1: number;
  const events: BypassEvent[] = [];
  const logged: TenancyLogEvent[] = [];
  let veto = false;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    ds = new DataSource({ ...db.options, entities: blogEntities, synchronize: true } as never);
    tenancy = new Tenancy(ds, {
      onBypass: (event) => {
        if (veto) throw new Error('bypass vetoed by the audit hook');
        events.push(event);
      },
      logger: { log: (event) => logged.push(event) },
    });
    await ds.initialize();
    const tenants = await ds.manager.save(Tenant, [{ name: 'a' }, { name: 'b' }]);
    t1 = tenants[0]!.id;
    await tenancy.manager(t1).save(Post, { title: 'a-1' });
    await tenancy.manager(tenants[1]!.id).save(Post, { title: 'b-1' });
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('find-style options, createQueryBuilder and query with { safe: false } are each reported once, with the caller', async () => {
    events.length = 0;
    const em = tenancy.manager(t1);
    expect(await em.count(Post, { safe: false })).toBe(2);
    expect((await em.findBy(Post, { safe: false } as never)).length).toBe(2);
    await em.createQueryBuilder(Post, 'p', { safe: false }).getMany();
    await em.query('SELECT COUNT(*) AS n FROM posts', [], { safe: false });
    await em.find(Post); // scoped: not a bypass
    expect(events.map((e) => [e.operation, e.entity, e.tenant, e.sql])).toEqual([
      ['count', 'Post', t1, undefined],
      ['findBy', 'Post', t1, undefined],
      ['createQueryBuilder', 'Post', t1, undefined],
      ['query', undefined, t1, 'SELECT COUNT(*) AS n FROM posts'],
    ]);
    for (const event of events) expect(event.callSite).toContain(thisFile);
    expect(events[0]!.callSite).not.toMatch(/tenant-entity-manager|node_modules/);
  });

  it('the default manager outside run() reports its bypasses with no tenant; inside run() with the bound tenant', async () => {
    events.length = 0;
    await ds.manager.find(Post, { safe: false });
    await tenancy.run(t1, () => ds.getRepository(Post).find({ safe: false }));
    expect(events.map((e) => [e.operation, e.tenant])).toEqual([
      ['find', undefined],
      ['find', t1],
    ]);
  });

  it('a hook that throws refuses the bypass before any SQL runs', async () => {
    veto = true;
    try {
      await expect(tenancy.manager(t1).find(Post, { safe: false })).rejects.toThrow('bypass vetoed');
      expect(() => tenancy.manager(t1).createQueryBuilder(Post, 'p', { safe: false })).toThrow('bypass vetoed');
      await expect(tenancy.manager(t1).query('DELETE FROM posts', [], { safe: false })).rejects.toThrow('bypass vetoed');
    } finally {
      veto = false;
    }
    expect(await ds.manager.count(Post, { safe: false })).toBe(2);
  });

  it('the logger receives bypasses (info) and refusals (warn, with the error)', async () => {
    logged.length = 0;
    await tenancy.manager(t1).find(Post, { safe: false });
    await expect(tenancy.manager(t1).query('SELECT 1')).rejects.toBeInstanceOf(UnsafeQueryError);
    expect(logged.map((e) => [e.level, e.kind, e.operation])).toEqual([
      ['info', 'bypass', 'find'],
      ['warn', 'refusal', 'query'],
    ]);
    expect(logged[1]!.error).toBeInstanceOf(UnsafeQueryError);
    expect(logged[0]!.message).toContain(thisFile);
  });
});

describe('the bypass audit with TypeORM\'s logger, and in tenant databases', () => {
  it("logger: 'typeorm' writes through the DataSource's logger; a tenant database reports to the same hook", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tenancy-audit-'));
    const lines: string[] = [];
    const logger: Logger = {
      logQuery: () => undefined,
      logQueryError: () => undefined,
      logQuerySlow: () => undefined,
      logSchemaBuild: () => undefined,
      logMigration: () => undefined,
      log: (level, message) => lines.push(`${level} ${String(message)}`),
    };
    const events: BypassEvent[] = [];
    const ds = new DataSource({ type: 'better-sqlite3', database: join(dir, 'catalog.sqlite'), entities: blogEntities, synchronize: true, logger });
    const tenancy = new Tenancy(ds, {
      strategy: 'database',
      database: { dataSourceOptions: (t) => ({ type: 'better-sqlite3', database: join(dir, `tenant_${String(t)}.sqlite`), synchronize: true }) },
      onBypass: (event) => void events.push(event),
      logger: 'typeorm',
    });
    await ds.initialize();
    try {
      const tenant = (await tenancy.tenants.create({ name: 'a' })) as Tenant;
      await tenancy.manager(tenant.id).find(Post, { safe: false });
      expect(events.map((e) => [e.operation, e.tenant])).toEqual([['find', tenant.id]]);
      expect(lines.some((l) => l.startsWith('info [typeorm-tenancy] { safe: false } find on Post by tenant'))).toBe(true);
    } finally {
      await tenancy.destroy();
      await ds.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
