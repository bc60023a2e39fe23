import { describe, expect, it } from 'vitest';
import { missingDistFiles, notesWorld, runBuilt } from '../support/built-package.js';

// The subpaths `typeorm-tenancy/express` and `typeorm-tenancy/nestjs` as a user loads them from
// `npm run build`'s dist/, through the package name (so package.json `exports` is exercised), in
// both module systems: one request over HTTP on 127.0.0.1 through the built middleware, and the
// identity of Tenancy across entries.
const files = ['express', 'nestjs'].flatMap((name) => ['mjs', 'cjs', 'd.mts', 'd.cts'].map((ext) => `${name}.${ext}`));
const imports = { typeorm: 'typeorm', 'typeorm-tenancy': 'lib', 'typeorm-tenancy/express': 'ex', 'typeorm-tenancy/nestjs': 'nest', express: 'default:express' };
const body = `${notesWorld}
  await ds.manager.save(Tenant, [{}, {}]);
  await tenancy.manager(1).save(Note, { text: 'one' });
  await tenancy.manager(2).save(Note, { text: 'two' });
  const app = express();
  app.use(ex.tenancyMiddleware(tenancy, { resolve: ex.byHeader('x-tenant-id') }));
  app.get('/', async (req, res) => res.json((await ds.getRepository(Note).find()).map((n) => n.text)));
  const server = await new Promise((resolve) => { const s = app.listen(0, '127.0.0.1', () => resolve(s)); });
  const url = 'http://127.0.0.1:' + server.address().port + '/';
  const body = await (await fetch(url, { headers: { 'x-tenant-id': '2' } })).text();
  const missing = (await fetch(url)).status;
  const unknown = (await fetch(url, { headers: { 'x-tenant-id': '9' } })).status;
  server.close();
  const errorHandler = ex.tenancyErrorHandler().length; // Express tells error handlers by their 4 parameters
  const module = nest.TenancyModule.forRoot({ tenancy, resolve: nest.byHeader('x-tenant-id') });
  const sameTenancy = module.providers.some((p) => p.provide === Tenancy);
  const middleware = typeof nest.TenancyMiddleware === 'function' && typeof nest.InjectTenantManager() === 'function';
  const nestExports = [nest.TenancyInterceptor, nest.TenancyExceptionFilter, nest.CurrentTenant, nest.byPayload].every((e) => typeof e === 'function');
  console.log(JSON.stringify({ body, missing, unknown, errorHandler, sameTenancy, middleware, nestExports }));
  await ds.destroy()`;
const expected = JSON.stringify({ body: '["two"]', missing: 400, unknown: 404, errorHandler: 4, sameTenancy: true, middleware: true, nestExports: true });

describe('built subpaths ./express and ./nestjs', () => {
  it('has ESM, CJS and both declaration files for each', () => {
    expect(missingDistFiles(files), 'missing: run `npm run build`').toEqual([]);
  });

  it.each(['cjs', 'esm'] as const)('work through %s', (system) => {
    expect(runBuilt(system, imports, body)).toBe(expected);
  });
});
