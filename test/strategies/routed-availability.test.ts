import { DataSource } from 'typeorm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageUnavailableError, Tenancy } from '../../src/index.js';
import { blogEntities, Tag, Tenant } from '../fixtures/blog.js';
import { adminQuery, createTestDatabase, databaseKinds, type TestDatabase } from '../support/databases.js';

// Database per tenant on PostgreSQL, watched from the server: never more than maxOpen tenant
// databases connected, and a tenant database that goes away after it was opened fails with
// StorageUnavailableError (other tenants keep working) and recovers on the next use.
describe.skipIf(!databaseKinds().includes('postgres'))("strategy 'database' on postgres: maxOpen and databases going down", () => {
  let db: TestDatabase;
  let main: DataSource;
  let tenancy: Tenancy;
  let watcher: pg.Client;
  const prefix = `tenancy_av_${Math.random().toString(36).slice(2, 8)}`;
  const tenants: Tenant[] = [];
  const dbName = (t: Tenant) => `${prefix}_${t.id}`;

  /** Tenant databases with at least one connection right now. */
  const connected = async (): Promise<string[]> =>
    ((await watcher.query(`SELECT DISTINCT datname FROM pg_stat_activity WHERE datname LIKE $1 ORDER BY 1`, [`${prefix}_%`])).rows as Array<{ datname: string }>).map((r) => r.datname);

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    const url = (name: string) => {
      const u = new URL(db.options.type === 'postgres' ? db.options.url : '');
      u.pathname = `/${name}`;
      return u.toString();
    };
    watcher = new pg.Client({ connectionString: url('postgres') });
    await watcher.connect();
    main = new DataSource({ ...db.options, entities: blogEntities, synchronize: true } as never);
    tenancy = new Tenancy(main, {
      strategy: 'database',
      defaultManager: 'unscoped',
      database: { maxOpen: 2, idleTimeoutMs: 300_000, dataSourceOptions: (t) => ({ type: 'postgres', url: url(`${prefix}_${t}`), synchronize: true, extra: { max: 3 } }) },
    });
    await main.initialize();
    for (let i = 0; i < 5; i++) tenants.push((await tenancy.tenants.create({ name: `t${i}` })) as Tenant);
  });
  afterAll(async () => {
    await tenancy?.destroy();
    await main?.destroy();
    await watcher?.end();
    for (const t of tenants) await adminQuery(`DROP DATABASE IF EXISTS ${dbName(t)} WITH (FORCE)`);
    await db?.drop();
  });

  it('a burst over 5 tenants with maxOpen 2 never has more than 2 tenant databases connected', async () => {
    await tenancy.destroy();
    let peak: string[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const now = await connected();
        if (now.length > peak.length) peak = now;
      }
    })();
    await Promise.all(tenants.flatMap((t) => [1, 2, 3].map((n) => tenancy.manager(t).save(Tag, { label: `${t.name}-${n}` }))));
    await Promise.all(tenants.map((t) => tenancy.manager(t).transaction((tx) => tx.count(Tag))));
    sampling = false;
    await sampler;
    expect(peak.length).toBeGreaterThan(0);
    expect(peak.length).toBeLessThanOrEqual(2);
    expect((await connected()).length).toBeLessThanOrEqual(2);
    // Every write landed in its own tenant's database only.
    for (const t of tenants) expect((await tenancy.manager(t).find(Tag)).map((x) => x.label).sort()).toEqual([1, 2, 3].map((n) => `${t.name}-${n}`));
  });

  it('a tenant database that stops accepting connections after it was opened: StorageUnavailableError, others work, recovers', async () => {
    const [down, up] = [tenants[0]!, tenants[1]!];
    await tenancy.open(down);
    await tenancy.open(up);
    expect(await connected()).toContain(dbName(down));
    await adminQuery(`ALTER DATABASE ${dbName(down)} ALLOW_CONNECTIONS false`);
    await adminQuery(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [dbName(down)]);
    try {
      for (let i = 0; i < 3; i++) {
        const error = await tenancy.manager(down).find(Tag).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StorageUnavailableError);
        expect((error as Error).message).toContain(String(down.id));
      }
      await expect(tenancy.manager(down).transaction((tx) => tx.count(Tag))).rejects.toBeInstanceOf(StorageUnavailableError);
      expect(await tenancy.manager(up).count(Tag)).toBe(3);
    } finally {
      await adminQuery(`ALTER DATABASE ${dbName(down)} ALLOW_CONNECTIONS true`);
    }
    expect(await tenancy.manager(down).count(Tag)).toBe(3);
  });

  it('connections cut under an open tenant DataSource (pg_terminate_backend): the next use works again', async () => {
    const t = tenants[2]!;
    await tenancy.manager(t).count(Tag);
    await adminQuery(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [dbName(t)]);
    const first = await tenancy.manager(t).count(Tag).catch((e: unknown) => e);
    // pg may notice the cut connection first (StorageUnavailableError) or hand out a new one.
    if (typeof first !== 'number') expect(first).toBeInstanceOf(StorageUnavailableError);
    expect(await tenancy.manager(t).count(Tag)).toBe(3);
  });
});
