import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseKinds } from '../support/databases.js';
import { compileExamples, exampleEnv, runExample, startExample } from './example-process.js';
import { http } from './http.js';

// Each example as a user runs it: compiled with tsc, started with node as a real server on a
// free loopback port, driven over HTTP. Host headers are set with node:http (fetch cannot).
let compiled: ReturnType<typeof compileExamples>;
let scratch: string;
const main = (example: string) => join(compiled.dir, 'examples', example, 'main.js');

beforeAll(() => {
  compiled = compileExamples();
  scratch = mkdtempSync(join(tmpdir(), 'tenancy-examples-'));
});
afterAll(() => {
  compiled?.remove();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** The flask seed's sequence: two tenants by Host, an insert and reads from both hosts. */
async function seedSequence(example: string, env: NodeJS.ProcessEnv): Promise<void> {
  expect(runExample(main(example), ['add-tenant', '127.0.0.1:5000', 'ip'], env)).toMatch(/tenant ip .* host 127\.0\.0\.1:5000/);
  expect(runExample(main(example), ['add-tenant', 'localhost:5000', 'local'], env)).toMatch(/tenant local .* host localhost:5000/);
  const server = await startExample(main(example), env);
  try {
    const ip = { host: '127.0.0.1:5000' };
    const local = { host: 'localhost:5000' };
    const inserted = await http(server.port, { method: 'POST', path: '/data/insert/42/8675309', headers: ip });
    expect(inserted.status).toBe(200);
    expect(inserted.json()).toEqual({ status: 'success' });
    const read = await http(server.port, { path: '/data/get/42', headers: ip });
    expect(read.status).toBe(200);
    expect(read.text).toBe('{"value":8675309}');
    expect((await http(server.port, { path: '/data/get/42', headers: local })).status).toBe(404);

    // Beyond the seed: the other tenant's own value, an unregistered host, a bad value.
    await http(server.port, { method: 'POST', path: '/data/insert/42/5551234', headers: local });
    expect((await http(server.port, { path: '/data/get/42', headers: local })).json()).toEqual({ value: 5551234 });
    expect((await http(server.port, { path: '/data/get/42', headers: ip })).json()).toEqual({ value: 8675309 });
    expect((await http(server.port, { path: '/data', headers: ip })).json()).toEqual({ entries: { '42': 8675309 } });
    expect((await http(server.port, { path: '/data/get/42', headers: { host: 'localhost:5001' } })).status).toBe(404);
    expect((await http(server.port, { method: 'POST', path: '/data/insert/1/x', headers: ip })).status).toBe(400);
  } finally {
    await server.stop();
  }
}

describe.each(databaseKinds())('examples/kv-server (Express) on %s', (kind) => {
  it("runs the flask seed's sequence: add-tenant, add-tenant, serve, insert, get", async () => {
    if (kind === 'sqlite') {
      // SQLite file: the tenants added by the one-shot commands are there when the server starts.
      await seedSequence('kv-server', exampleEnv({ SQLITE_FILE: join(scratch, 'kv.sqlite') }));
      return;
    }
    const db = await createTestDatabase('postgres');
    try {
      await seedSequence('kv-server', exampleEnv({ DATABASE_URL: db.options.type === 'postgres' ? db.options.url : '' }));
    } finally {
      await db.drop();
    }
  }, 60_000);
});

describe('examples/nest-app (NestJS)', () => {
  it("runs the flask seed's sequence on SQLite", async () => {
    await seedSequence('nest-app', exampleEnv({ SQLITE_FILE: join(scratch, 'nest.sqlite') }));
  }, 60_000);
});

describe('examples/products (Edgy walkthrough)', () => {
  it('serves edgy its 10 products on `tenant: edgy` and the shared tenant its 25 without the header', async () => {
    const server = await startExample(main('products'), exampleEnv({}));
    try {
      const shared = (await http(server.port, { path: '/products' })).json() as { name: string; tenantId: number }[];
      expect(shared).toHaveLength(25);
      expect(shared.every((p) => p.name.startsWith('Shared product'))).toBe(true);
      const edgy = (await http(server.port, { path: '/products', headers: { tenant: 'edgy' } })).json() as { name: string; tenantId: number }[];
      expect(edgy).toHaveLength(10);
      expect(edgy.every((p) => p.name.startsWith('Edgy product') && p.tenantId === edgy[0]!.tenantId)).toBe(true);
      expect(edgy[0]!.tenantId).not.toBe(shared[0]!.tenantId);
      const unknown = await http(server.port, { path: '/products', headers: { tenant: 'nobody' } });
      expect(unknown.status).toBe(404);
      expect(unknown.text).toBe('{"error":"Not Found"}');
    } finally {
      await server.stop();
    }
  });
});
