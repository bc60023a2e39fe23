import { setTimeout as sleep } from 'node:timers/promises';
import express, { type ErrorRequestHandler } from 'express';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MissingTenantError, type TenancyError, Tenancy, TenantEntityManager, UnknownTenantError, UnsafeQueryError, StorageUnavailableError } from '../../src/index.js';
import {
  byHeader,
  byHostname,
  bySubdomain,
  type TenantRequest,
  tenancyErrorHandler,
  tenancyMiddleware,
  tenantManager,
  withDefault,
} from '../../src/integrations/express.js';
import { blogEntities, Post, Tenant } from '../fixtures/blog.js';
import { http, type Listening, listen } from './http.js';

// typeorm-tenancy/express over real HTTP on 127.0.0.1, on SQLite: the middleware only binds the
// context; what the context scopes is covered by the conformance suite on every database.
describe('typeorm-tenancy/express', () => {
  let ds: DataSource;
  let tenancy: Tenancy;
  let acme: number;
  let globex: number;
  const servers: Listening[] = [];
  /** What tenancyErrorHandler logged (its 5xx errors). */
  const logged: TenancyError[] = [];

  /** An app with the middleware and a few routes that read the tenant in different ways. */
  async function serve(middleware: express.RequestHandler): Promise<number> {
    const app = express();
    app.use(middleware);
    app.use(express.json());
    const repo = ds.getRepository(Post); // created outside any request: scoped per request by defaultManager 'context'
    app.get('/posts', async (_req, res) => {
      await sleep(2);
      res.json((await repo.find({ order: { id: 'ASC' } })).map((p) => p.title));
    });
    app.post('/posts', async (req, res) => {
      const body = req.body as { title: string };
      const post = await repo.save({ title: body.title }); // after express.json() read the body stream
      res.status(201).json({ tenantId: post.tenantId, current: tenancy.current().tenantId, same: tenantManager(req) === tenancy.current() });
    });
    // The tenant across await, timers, setImmediate, Promise.all and nested callbacks.
    app.get('/context', async (req, res) => {
      const seen: unknown[] = [tenancy.current().tenantId];
      await sleep(5);
      seen.push(tenancy.current().tenantId);
      await new Promise<void>((resolve) => setImmediate(() => (seen.push(tenancy.current().tenantId), resolve())));
      seen.push(...(await Promise.all([1, 2].map(async () => (await sleep(1), tenancy.current().tenantId)))));
      seen.push(await ds.manager.count(Post));
      res.json({ seen, same: tenantManager(req) === tenancy.current(), isManager: tenantManager(req) instanceof TenantEntityManager });
    });
    app.get('/fail', async () => {
      await sleep(1);
      throw new Error(`handler failed in tenant ${String(tenancy.current().tenantId)}`);
    });
    // Handlers whose code goes wrong in tenancy's ways: the error handler answers them.
    app.post('/posts/as/:other', async (req) => {
      await repo.save({ title: 'stolen', tenantId: Number(req.params['other']) }); // TenantMismatchError
    });
    app.get('/raw', async () => {
      await ds.manager.query('SELECT title FROM posts'); // UnsafeQueryError: raw SQL in a tenant context
    });
    app.use(tenancyErrorHandler({ log: (error) => logged.push(error) }));
    const onError: ErrorRequestHandler = (error: Error, _req, res, _next) => {
      res.status(500).json({ error: error.message });
    };
    app.use(onError);
    const server = await listen(app);
    servers.push(server);
    return server.port;
  }

  beforeAll(async () => {
    ds = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: blogEntities, synchronize: true });
    tenancy = new Tenancy(ds);
    await ds.initialize();
    [acme, globex] = (await ds.manager.save(Tenant, [{ name: 'acme' }, { name: 'globex' }])).map((t) => t.id) as [number, number];
    await tenancy.manager(acme).save(Post, [{ title: 'acme 1' }, { title: 'acme 2' }]);
    await tenancy.manager(globex).save(Post, { title: 'globex 1' });
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await ds?.destroy();
  });

  const exists = async (id: unknown) => ds.manager.existsBy(Tenant, { id: id as number });

  it('binds the header tenant for the whole request: repositories, tenantManager(req), across awaits', async () => {
    const port = await serve(tenancyMiddleware(tenancy, { resolve: byHeader('x-tenant-id'), exists }));
    expect((await http(port, { path: '/posts', headers: { 'x-tenant-id': String(acme) } })).json()).toEqual(['acme 1', 'acme 2']);
    expect((await http(port, { path: '/posts', headers: { 'x-tenant-id': ` ${globex} ` } })).json()).toEqual(['globex 1']);

    const context = await http(port, { path: '/context', headers: { 'x-tenant-id': String(acme) } });
    expect(context.json()).toEqual({ seen: [acme, acme, acme, acme, acme, 2], same: true, isManager: true });

    // A JSON body parsed after the middleware: the context survives the request stream's events.
    const created = await http(port, {
      method: 'POST',
      path: '/posts',
      headers: { 'x-tenant-id': String(globex), 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'globex 2' }),
    });
    expect(created.status).toBe(201);
    expect(created.json()).toEqual({ tenantId: globex, current: globex, same: true });
    expect((await tenancy.manager(globex).find(Post)).map((p) => p.title).sort()).toEqual(['globex 1', 'globex 2']);
    await tenancy.manager(globex).delete(Post, { title: 'globex 2' });

    // An async handler's rejection reaches the error handler, still inside the tenant.
    const failed = await http(port, { path: '/fail', headers: { 'x-tenant-id': String(globex) } });
    expect(failed.status).toBe(500);
    expect(failed.json()).toEqual({ error: `handler failed in tenant ${globex}` });
  });

  it('answers 400 without a tenant and the same 404 for every unknown tenant, naming none', async () => {
    const port = await serve(tenancyMiddleware(tenancy, { resolve: byHeader('x-tenant-id'), exists }));
    const missing = await http(port, { path: '/posts' });
    expect(missing.status).toBe(400);
    expect(missing.json()).toEqual({ error: 'Bad Request' });
    expect((await http(port, { path: '/posts', headers: { 'x-tenant-id': '  ' } })).status).toBe(400);

    const unknown = await Promise.all(
      ['999', 'abc', '1.5', '-0', `${acme}, ${globex}`, '9007199254740993'].map((id) => http(port, { path: '/posts', headers: { 'x-tenant-id': id } })),
    );
    for (const response of unknown) {
      expect(response.status).toBe(404);
      expect(response.text).toBe('{"error":"Not Found"}');
    }
  });

  it('checks resolved tenants against the tenant table by default: an unknown tenant is 404, never bound', async () => {
    const port = await serve(tenancyMiddleware(tenancy, { resolve: byHeader('x-tenant-id') }));
    const before = await ds.manager.count(Post, { safe: false });
    for (const id of ['999', String(globex + 1), 'abc']) {
      expect(await http(port, { path: '/posts', headers: { 'x-tenant-id': id } })).toMatchObject({ status: 404, text: '{"error":"Not Found"}' });
      const write = await http(port, { method: 'POST', path: '/posts', headers: { 'x-tenant-id': id, 'content-type': 'application/json' }, body: '{"title":"x"}' });
      expect(write).toMatchObject({ status: 404, text: '{"error":"Not Found"}' });
    }
    expect(await ds.manager.count(Post, { safe: false })).toBe(before);
    expect((await http(port, { path: '/posts', headers: { 'x-tenant-id': String(acme) } })).json()).toEqual(['acme 1', 'acme 2']);

    // `exists: false` turns the check off: any well-formed id is bound, and reads nothing.
    const unchecked = await serve(tenancyMiddleware(tenancy, { resolve: byHeader('x-tenant-id'), exists: false }));
    expect((await http(unchecked, { path: '/posts', headers: { 'x-tenant-id': '999' } })).json()).toEqual([]);
    expect((await http(unchecked, { path: '/posts', headers: { 'x-tenant-id': 'abc' } })).status).toBe(404);
  });

  it('a removed tenant is refused at once through tenants.remove(), and within maxAge when deleted behind its back', async () => {
    const [initech, umbrella] = await ds.manager.save(Tenant, [{ name: 'initech' }, { name: 'umbrella' }]);
    await tenancy.manager(initech!).save(Post, { title: 'initech 1' });
    await tenancy.manager(umbrella!).save(Post, { title: 'umbrella 1' });
    const cached = await serve(tenancyMiddleware(tenancy, { resolve: byHeader('x-tenant-id'), exists: { maxAge: 1000 } }));
    const get = (t: Tenant) => http(cached, { path: '/posts', headers: { 'x-tenant-id': String(t.id) } });
    expect((await get(initech!)).json()).toEqual(['initech 1']);
    expect((await get(umbrella!)).json()).toEqual(['umbrella 1']);

    await tenancy.tenants.remove(initech!);
    expect(await get(initech!)).toMatchObject({ status: 404, text: '{"error":"Not Found"}' });

    // Deleted with plain SQL: the remembered answer holds until maxAge, then the tenant is refused.
    const removedAt = performance.now();
    const runner = ds.createQueryRunner();
    await runner.query('DELETE FROM tenants WHERE id = ?', [umbrella!.id]).finally(() => runner.release());
    const stale = await get(umbrella!);
    if (performance.now() - removedAt < 900) expect(stale.json()).toEqual([]); // still bound (its rows went with it)
    await sleep(1100 - (performance.now() - removedAt));
    expect(await get(umbrella!)).toMatchObject({ status: 404, text: '{"error":"Not Found"}' });
    expect(await get(umbrella!)).toMatchObject({ status: 404 });
  });

  it('tenants.exists() looks each tenant up once per maxAge, remembers only tenants that exist, and refuses bad ids', async () => {
    const queries: string[] = [];
    const probe = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: blogEntities, synchronize: true, logging: ['query'], logger: { logQuery: (q) => void queries.push(q), logQueryError() {}, logQuerySlow() {}, logSchemaBuild() {}, logMigration() {}, log() {} } });
    const probeTenancy = new Tenancy(probe);
    await probe.initialize();
    try {
      const t = await probe.manager.save(Tenant, { name: 't' });
      const lookups = () => queries.splice(0).filter((q) => q.startsWith('SELECT') && q.includes('"tenants"')).length;
      lookups();
      expect(await Promise.all([1, 2, 3].map(() => probeTenancy.tenants.exists(t.id, { maxAge: 60_000 })))).toEqual([true, true, true]);
      expect(await probeTenancy.tenants.exists(t, { maxAge: 60_000 })).toBe(true);
      expect(lookups()).toBe(1); // shared, then remembered
      expect(await probeTenancy.tenants.exists(t.id)).toBe(true); // maxAge 0: looks again
      expect(lookups()).toBe(1);
      expect(await probeTenancy.tenants.exists(t.id + 1, { maxAge: 60_000 })).toBe(false);
      await probe.manager.save(Tenant, { id: t.id + 1, name: 'new' });
      lookups();
      expect(await probeTenancy.tenants.exists(t.id + 1, { maxAge: 60_000 })).toBe(true); // absence was not remembered
      expect(lookups()).toBe(1);
      // Inside another tenant's context (where the tenant table is scoped to that tenant's row) the answer is the same.
      expect(await probeTenancy.run(t.id, () => probeTenancy.tenants.exists(t.id + 1))).toBe(true);
      expect(await probeTenancy.run(t.id + 1, () => probeTenancy.tenants.exists(t.id + 2))).toBe(false);
      await expect(probeTenancy.tenants.exists('abc' as unknown as number)).rejects.toBeInstanceOf(MissingTenantError);
      await expect(probeTenancy.tenants.exists(t.id, { maxAge: -1 })).rejects.toThrow(/maxAge -1/);
    } finally {
      await probe.destroy();
    }
  });

  it('tenancyErrorHandler answers TenancyErrors with their status and a body that names nothing; other errors pass on', async () => {
    const port = await serve(tenancyMiddleware(tenancy, { resolve: byHeader('x-tenant-id') }));
    logged.length = 0;
    const headers = { 'x-tenant-id': String(acme) };
    const mismatch = await http(port, { method: 'POST', path: `/posts/as/${globex}`, headers });
    expect(mismatch).toMatchObject({ status: 403, text: '{"error":"Forbidden"}' });
    expect(await tenancy.manager(globex).count(Post)).toBe(1);
    const unsafe = await http(port, { path: '/raw', headers });
    expect(unsafe).toMatchObject({ status: 500, text: '{"error":"Internal Server Error"}' });
    expect(logged).toHaveLength(1); // 5xx are logged, 4xx are the client's
    expect(logged[0]).toBeInstanceOf(UnsafeQueryError);
    const plain = await http(port, { path: '/fail', headers });
    expect(plain.json()).toEqual({ error: `handler failed in tenant ${acme}` }); // not a TenancyError: the app's handler

    // No tenant bound for the route: scoped reads refuse with MissingTenantError → 400.
    const bare = express();
    bare.get('/posts', async (_req, res) => void res.json(await ds.getRepository(Post).find()));
    // Unknown tenants sent to the error handler instead of answered by the middleware.
    bare.use(tenancyMiddleware(tenancy, { resolve: byHeader('x-tenant-id'), onUnknown: (_req, _res, next) => next(new UnknownTenantError('no such tenant: 999')) }));
    bare.get('/scoped', (_req, res) => void res.json('bound'));
    bare.use(tenancyErrorHandler({ log: (error) => logged.push(error) }));
    const server = await listen(bare);
    servers.push(server);
    expect(await http(server.port, { path: '/posts' })).toMatchObject({ status: 400, text: '{"error":"Bad Request"}' });
    expect(await http(server.port, { path: '/scoped', headers: { 'x-tenant-id': '999' } })).toMatchObject({ status: 404, text: '{"error":"Not Found"}' });
    expect(logged).toHaveLength(1);
  });

  it('tenancyErrorHandler: a tenant database that cannot be opened is 503 for its tenant only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tenancy-express-'));
    writeFileSync(join(dir, 'not-a-folder'), ''); // tenant 2's database would live under a file: it cannot open
    const main = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: blogEntities, synchronize: true });
    const routed = new Tenancy(main, {
      strategy: 'database',
      database: { dataSourceOptions: (id) => ({ type: 'better-sqlite3', database: join(dir, String(id) === '2' ? 'not-a-folder/t.sqlite' : `t${id}.sqlite`), synchronize: true }) },
    });
    await main.initialize();
    try {
      await routed.tenants.create({ name: 'up' });
      await main.manager.save(Tenant, { name: 'down' }); // a tenant row whose database never was built
      const app = express();
      app.use(tenancyMiddleware(routed, { resolve: byHeader('x-tenant-id') }));
      app.get('/posts', async (req, res) => void res.json(await tenantManager(req).find(Post)));
      app.use(tenancyErrorHandler({ log: (error) => logged.push(error) }));
      const server = await listen(app);
      servers.push(server);
      logged.length = 0;
      expect((await http(server.port, { path: '/posts', headers: { 'x-tenant-id': '1' } })).json()).toEqual([]);
      expect(await http(server.port, { path: '/posts', headers: { 'x-tenant-id': '2' } })).toMatchObject({ status: 503, text: '{"error":"Service Unavailable"}' });
      expect(logged.map((e) => e.constructor)).toEqual([StorageUnavailableError]);
      expect(logged[0]!.message).toContain('not-a-folder'); // in the log, not in the body
      // Inside a tenant's context the catalog still reads the main database (tenant 1's database has an empty tenants table).
      expect(await routed.run(1, () => routed.tenants.exists(1))).toBe(true);
    } finally {
      await routed.destroy();
      await main.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('onMissing and onUnknown replace the default answers; resolver errors go to the error handler', async () => {
    const port = await serve(
      tenancyMiddleware(tenancy, {
        resolve: (req: express.Request) => {
          const value = req.get('x-tenant');
          if (value === 'boom') throw new Error('resolver exploded');
          return value === undefined ? undefined : value === 'acme' ? acme : null;
        },
        onMissing: (_req, res: express.Response) => res.status(401).json({ error: 'sign in first' }),
        onUnknown: (_req, _res, next) => next(new Error('no such tenant')),
      }),
    );
    expect(await http(port, { path: '/posts' })).toMatchObject({ status: 401, text: '{"error":"sign in first"}' });
    expect(await http(port, { path: '/posts', headers: { 'x-tenant': 'initech' } })).toMatchObject({ status: 500, text: '{"error":"no such tenant"}' });
    expect(await http(port, { path: '/posts', headers: { 'x-tenant': 'boom' } })).toMatchObject({ status: 500, text: '{"error":"resolver exploded"}' });
    expect((await http(port, { path: '/posts', headers: { 'x-tenant': 'acme' } })).json()).toEqual(['acme 1', 'acme 2']);
  });

  it('resolves by host name (table or function, with or without port), subdomain, async custom resolvers and defaults', async () => {
    const hosts = await serve(tenancyMiddleware(tenancy, { resolve: byHostname({ 'acme.localhost': acme, 'globex.localhost': globex }) }));
    expect((await http(hosts, { path: '/posts', headers: { host: 'ACME.localhost.:5000' } })).json()).toEqual(['acme 1', 'acme 2']);
    expect((await http(hosts, { path: '/posts', headers: { host: 'globex.localhost' } })).json()).toEqual(['globex 1']);
    expect((await http(hosts, { path: '/posts', headers: { host: 'initech.localhost' } })).status).toBe(404);
    expect((await http(hosts, { path: '/posts', headers: { host: 'constructor' } })).status).toBe(404); // own keys only

    const withPort = await serve(
      tenancyMiddleware(tenancy, { resolve: byHostname(new Map([['127.0.0.1:5000', acme], ['localhost:5000', globex]]), { port: true }) }),
    );
    expect((await http(withPort, { path: '/posts', headers: { host: '127.0.0.1:5000' } })).json()).toEqual(['acme 1', 'acme 2']);
    expect((await http(withPort, { path: '/posts', headers: { host: 'localhost:5000' } })).json()).toEqual(['globex 1']);
    expect((await http(withPort, { path: '/posts', headers: { host: 'localhost:5001' } })).status).toBe(404);

    const subdomains = await serve(
      tenancyMiddleware(tenancy, {
        resolve: bySubdomain(['example.com', 'example.test'], async (slug) => (await ds.manager.findOneBy(Tenant, { name: slug }))?.id),
      }),
    );
    expect((await http(subdomains, { path: '/posts', headers: { host: 'acme.example.com' } })).json()).toEqual(['acme 1', 'acme 2']);
    expect((await http(subdomains, { path: '/posts', headers: { host: 'globex.example.test:8080' } })).json()).toEqual(['globex 1']);
    expect((await http(subdomains, { path: '/posts', headers: { host: 'initech.example.com' } })).status).toBe(404);
    expect((await http(subdomains, { path: '/posts', headers: { host: 'example.com' } })).status).toBe(400);
    expect((await http(subdomains, { path: '/posts', headers: { host: 'acme.example.org' } })).status).toBe(400);

    const defaulted = await serve(tenancyMiddleware(tenancy, { resolve: withDefault(byHeader('tenant', { globex }), acme) }));
    expect((await http(defaulted, { path: '/posts' })).json()).toEqual(['acme 1', 'acme 2']);
    expect((await http(defaulted, { path: '/posts', headers: { tenant: 'globex' } })).json()).toEqual(['globex 1']);
    expect((await http(defaulted, { path: '/posts', headers: { tenant: 'initech' } })).status).toBe(404);
  });

  it('interleaved concurrent requests of two tenants never see each other', async () => {
    const port = await serve(tenancyMiddleware(tenancy, { resolve: byHeader('x-tenant-id') }));
    const tenants = Array.from({ length: 100 }, (_, i) => (i % 3 === 0 ? globex : acme));
    const results = await Promise.all(tenants.map((t) => http(port, { path: '/context', headers: { 'x-tenant-id': String(t) } })));
    results.forEach((response, i) => {
      const t = tenants[i]!;
      expect(response.json()).toEqual({ seen: [t, t, t, t, t, t === acme ? 2 : 1], same: true, isManager: true });
    });
  });

  it('without the middleware there is no tenant: tenantManager(req) and scoped repositories refuse', async () => {
    const app = express();
    app.get('/', async (req, res) => {
      const errors = await Promise.all([
        Promise.resolve().then(() => tenantManager(req)).catch((e: unknown) => e),
        ds.getRepository(Post).find().catch((e: unknown) => e),
      ]);
      res.json(errors.map((e) => e instanceof MissingTenantError));
    });
    const server = await listen(app);
    servers.push(server);
    expect((await http(server.port, { path: '/' })).json()).toEqual([true, true]);
  });
});

describe('resolvers', () => {
  const request = (headers: Record<string, string | string[]>, extra: Partial<TenantRequest> = {}): TenantRequest => ({ headers, ...extra });

  it('byHostname reads Express host/hostname when present, else the Host header', async () => {
    expect(await byHostname()(request({ host: 'Acme.Example.com:8080' }))).toBe('acme.example.com');
    expect(await byHostname(undefined, { port: true })(request({ host: 'Acme.Example.com:8080' }))).toBe('acme.example.com:8080');
    expect(await byHostname()(request({ host: '[::1]:5000' }))).toBe('[::1]');
    expect(await byHostname()(request({ host: 'ignored' }, { hostname: 'proxied.example', host: 'proxied.example:443' }))).toBe('proxied.example');
    expect(await byHostname(undefined, { port: true })(request({}, { host: 'proxied.example:443' }))).toBe('proxied.example:443');
    expect(await byHostname()(request({}))).toBeUndefined();
  });

  it('lookups: tables match own keys only, unknown keys are null, functions may be async', async () => {
    const table = { acme: 1 };
    expect(await byHeader('t', table)(request({ t: 'acme' }))).toBe(1);
    expect(await byHeader('t', table)(request({ t: '__proto__' }))).toBeNull();
    expect(await byHeader('t', table)(request({ t: 'toString' }))).toBeNull();
    expect(await byHeader('t', async () => undefined)(request({ t: 'x' }))).toBeNull();
    expect(await byHeader('T', new Map([['b', 2]]))(request({ t: 'b' }))).toBe(2);
    expect(await byHeader('t')(request({ t: ['a', 'b'] }))).toBe('a, b');
    expect(await bySubdomain('example.com')(request({ host: 'eu.acme.example.com' }))).toBe('eu.acme');
    expect(await withDefault(byHeader('t', table), async () => 7)(request({}))).toBe(7);
  });
});
