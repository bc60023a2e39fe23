import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// Checks what `npm run build` produced, as a user would load it: through the package name, so the
// `exports` map is exercised too (Node resolves a package's own name from inside it).
const root = join(import.meta.dirname, '..');
const files = ['index.mjs', 'index.cjs', 'index.d.mts', 'index.d.cts'].map((file) => join(root, 'dist', file));
const built = files.every((file) => existsSync(file));
// CI builds before testing, so a missing dist/ there is a failure, never a skip.
const skip = !built && process.env.CI !== 'true';
if (skip) console.warn('[build.test] SKIPPED: no dist/; run `npm run build` first.');

function node(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 20_000 }).trim();
}

describe.skipIf(skip)(skip ? 'built package (SKIPPED: no dist/, run `npm run build`)' : 'built package', () => {
  it('has every file package.json exports', () => {
    expect(files.filter((file) => !existsSync(file)), 'missing: run `npm run build`').toEqual([]);
  });

  it('loads with require()', () => {
    expect(node(['-e', "console.log(typeof require('typeorm-tenancy').Tenancy)"])).toBe('function');
  });

  it('loads with import()', () => {
    const script = "const m = await import('typeorm-tenancy'); console.log(typeof m.Tenancy)";
    expect(node(['--input-type=module', '-e', script])).toBe('function');
  });

  // A scoped query through the built package, in both module systems. Decorators are applied as
  // plain calls (no compiler involved), exactly as TypeScript's legacy decorators would.
  const program = (load: string) => `
    ${load}
    const { DataSource, Entity, Column, PrimaryGeneratedColumn } = typeorm;
    const { Tenancy, TenantEntity, TenantScoped, TenantMismatchError } = tenancyLib;
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
    const mismatch = await tenancy.manager(1).insert(Note, { text: 'x', tenantId: 2 }).catch((e) => e instanceof TenantMismatchError);
    const rows = await tenancy.manager(1).find(Note);
    console.log(JSON.stringify({ rows: rows.map((r) => [r.text, r.tenantId]), mismatch }));
    await ds.destroy();`;
  const expected = JSON.stringify({ rows: [['one', 1]], mismatch: true });

  it('runs a scoped query through require()', () => {
    const script = `(async () => { ${program("require('reflect-metadata'); const typeorm = require('typeorm'); const tenancyLib = require('typeorm-tenancy');")} })().catch((e) => { console.error(e); process.exit(1); });`;
    expect(node(['-e', script])).toBe(expected);
  });

  it('runs a scoped query through import()', () => {
    const script = program("await import('reflect-metadata'); const typeorm = await import('typeorm'); const tenancyLib = await import('typeorm-tenancy');");
    expect(node(['--input-type=module', '-e', script])).toBe(expected);
  });
});
