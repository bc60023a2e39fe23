import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// The subpaths `typeorm-tenancy/express` and `typeorm-tenancy/nestjs` as a user loads them from
// `npm run build`'s dist/, through the package name (so package.json `exports` is exercised), in
// both module systems.
const root = join(import.meta.dirname, '..', '..');
const files = ['express', 'nestjs'].flatMap((name) => ['mjs', 'cjs', 'd.mts', 'd.cts'].map((ext) => join(root, 'dist', `${name}.${ext}`)));
const built = existsSync(join(root, 'dist', 'index.cjs'));
const skip = !built && process.env.CI !== 'true';
if (skip) console.warn('[integrations/build.test] SKIPPED: no dist/; run `npm run build` first.');

function node(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 25_000 }).trim();
}

// Decorators as plain calls (what TypeScript's legacy decorators compile to); one request over
// HTTP on 127.0.0.1 through the built middleware; and the identity of Tenancy across entries.
const program = (load: string) => `
  ${load}
  const { DataSource, Entity, Column, PrimaryGeneratedColumn } = typeorm;
  const { Tenancy, TenantEntity, TenantScoped } = lib;
  class Tenant {}
  PrimaryGeneratedColumn()(Tenant.prototype, 'id');
  Entity('tenants')(Tenant); TenantEntity()(Tenant);
  class Note {}
  PrimaryGeneratedColumn()(Note.prototype, 'id');
  Column('varchar')(Note.prototype, 'text');
  TenantScoped()(Note); Entity('notes')(Note);
  const ds = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [Tenant, Note], synchronize: true });
  const tenancy = new Tenancy(ds);
  await ds.initialize();
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
  server.close();
  const module = nest.TenancyModule.forRoot({ tenancy, resolve: nest.byHeader('x-tenant-id') });
  const sameTenancy = module.providers.some((p) => p.provide === Tenancy);
  const middleware = typeof nest.TenancyMiddleware === 'function' && typeof nest.InjectTenantManager() === 'function';
  console.log(JSON.stringify({ body, missing, sameTenancy, middleware }));
  await ds.destroy();`;
const expected = JSON.stringify({ body: '["two"]', missing: 400, sameTenancy: true, middleware: true });

describe.skipIf(skip)(skip ? 'built subpaths (SKIPPED: no dist/, run `npm run build`)' : 'built subpaths ./express and ./nestjs', () => {
  it('has ESM, CJS and both declaration files for each', () => {
    expect(files.filter((file) => !existsSync(file)), 'missing: run `npm run build`').toEqual([]);
  });

  it('work through require()', () => {
    const load = "require('reflect-metadata'); const typeorm = require('typeorm'); const lib = require('typeorm-tenancy'); const ex = require('typeorm-tenancy/express'); const nest = require('typeorm-tenancy/nestjs'); const express = require('express');";
    expect(node(['-e', `(async () => { ${program(load)} })().catch((e) => { console.error(e); process.exit(1); });`])).toBe(expected);
  });

  it('work through import()', () => {
    const load =
      "await import('reflect-metadata'); const typeorm = await import('typeorm'); const lib = await import('typeorm-tenancy'); const ex = await import('typeorm-tenancy/express'); const nest = await import('typeorm-tenancy/nestjs'); const { default: express } = await import('express');";
    expect(node(['--input-type=module', '-e', program(load)])).toBe(expected);
  });
});
