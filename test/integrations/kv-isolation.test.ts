import { Agent } from 'node:http';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tenancy } from '../../src/index.js';
import { createKvApp } from '../../examples/kv-server/app.js';
import { addTenant } from '../../examples/kv-server/database.js';
import { Entry, Tenant } from '../../examples/kv-server/entities.js';
import { adminQuery, createTestDatabase, databaseKinds, type TestDatabase } from '../support/databases.js';
import { http, type Listening, listen } from './http.js';

// Isolation under load: 1,000 interleaved requests for 3 tenants through the Express example
// (examples/kv-server) on PostgreSQL with a pool of 5 connections, many requests in flight at
// once. Every value encodes the tenant that wrote it, and every tenant writes the same keys, so
// a response holding another tenant's data would show it.
const hasPostgres = databaseKinds().includes('postgres');

describe.skipIf(!hasPostgres)('isolation under load: examples/kv-server on PostgreSQL, pool of 5', () => {
  const tenants = ['a.test:5000', 'b.test:5000', 'c.test:5000'];
  const encode = (t: number, i: number) => (t + 1) * 100_000 + i; // tenant t's value for key number i
  const owner = (value: number) => Math.floor(value / 100_000) - 1;
  const seededKeys = ['42', ...Array.from({ length: 9 }, (_, i) => `k${i}`)];
  let db: TestDatabase;
  let ds: DataSource;
  let server: Listening;
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    ds = new DataSource({ ...db.options, entities: [Tenant, Entry], synchronize: true, extra: { max: 5 } } as never);
    const tenancy = new Tenancy(ds);
    await ds.initialize();
    for (const [t, host] of tenants.entries()) await addTenant(ds.manager, host, `tenant ${t}`);
    server = await listen(createKvApp(ds, tenancy));
    // Every tenant writes the same keys, with its own values.
    await Promise.all(
      tenants.flatMap((host, t) =>
        seededKeys.map(async (key, i) => {
          const res = await http(server.port, { method: 'POST', path: `/data/insert/${key}/${encode(t, i)}`, headers: { host }, agent });
          expect(res.status).toBe(200);
        }),
      ),
    );
  });
  afterAll(async () => {
    agent.destroy();
    await server?.close();
    await ds?.destroy();
    await db?.drop();
  });

  it('1,000 interleaved requests: every response holds only its tenant’s data', async () => {
    const requests = Array.from({ length: 1_000 }, (_, n) => ({ n, t: n % 3, kind: Math.floor(n / 3) % 4 }));
    const failures: string[] = [];
    await Promise.all(
      requests.map(async ({ n, t, kind }) => {
        const headers = { host: tenants[t]! };
        if (kind === 0) {
          // A write: key w<n> exists only for this tenant afterwards.
          const res = await http(server.port, { method: 'POST', path: `/data/insert/w${n}/${encode(t, n)}`, headers, agent });
          if (res.text !== '{"status":"success"}') failures.push(`#${n} insert: ${res.status} ${res.text}`);
        } else if (kind === 1) {
          // A key every tenant has: the value must be this tenant's.
          const i = n % seededKeys.length;
          const res = await http(server.port, { path: `/data/get/${seededKeys[i]}`, headers, agent });
          if (res.text !== JSON.stringify({ value: encode(t, i) })) failures.push(`#${n} get ${seededKeys[i]} as ${t}: ${res.status} ${res.text}`);
        } else if (kind === 2) {
          // Everything the tenant has: no value of another tenant.
          const res = await http(server.port, { path: '/data', headers, agent });
          const values = Object.values((res.json() as { entries: Record<string, number> }).entries);
          if (res.status !== 200 || values.length < seededKeys.length || values.some((v) => owner(v) !== t)) failures.push(`#${n} list as ${t}: ${res.text}`);
        } else {
          // A key another tenant may just have written: never visible here.
          const other = (t + 1) % 3;
          const res = await http(server.port, { path: `/data/get/w${n - (n % 12) + other}`, headers, agent });
          if (res.status !== 404) failures.push(`#${n} foreign get as ${t}: ${res.text}`);
        }
      }),
    );
    expect(failures).toEqual([]);

    // Afterwards each tenant has exactly its seeded keys and its own writes.
    for (const [t, host] of tenants.entries()) {
      const { entries } = (await http(server.port, { path: '/data', headers: { host }, agent })).json() as { entries: Record<string, number> };
      const writes = requests.filter((r) => r.t === t && r.kind === 0).map((r) => `w${r.n}`);
      expect(Object.keys(entries).sort()).toEqual([...seededKeys, ...writes].sort());
      expect(Object.values(entries).every((v) => owner(v) === t)).toBe(true);
    }
    const total = await ds.manager.count(Entry, { safe: false });
    expect(total).toBe(tenants.length * seededKeys.length + requests.filter((r) => r.kind === 0).length);

    // The pool really was 5 connections.
    const name = new URL(db.options.type === 'postgres' ? db.options.url : 'x://x/none').pathname.slice(1);
    const [row] = (await adminQuery('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name])) as { n: number }[];
    expect(row!.n).toBeGreaterThan(0);
    expect(row!.n).toBeLessThanOrEqual(5);
  }, 60_000); // ~5 s alone; headroom for a loaded machine
});
