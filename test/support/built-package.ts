import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

// Running the built package (dist/) in a child Node process, as an application loads it: through
// the package name, so package.json `exports` is exercised, in both module systems.

export const repoRoot = join(import.meta.dirname, '..', '..');

/** The dist/ files missing of those given (names relative to dist/). */
export function missingDistFiles(names: string[]): string[] {
  return names.map((name) => join(repoRoot, 'dist', name)).filter((file) => !existsSync(file));
}

/**
 * A module name -> variable name map for the program: `{ typeorm: 'typeorm', 'typeorm-tenancy': 'lib' }`.
 * `'default:express'` binds the default export (a CommonJS function such as express) under ESM.
 */
export type Imports = Record<string, string>;

function requireLoad(imports: Imports): string {
  return ["require('reflect-metadata');", ...Object.entries(imports).map(([module, name]) => `const ${name.replace(/^default:/, '')} = require('${module}');`)].join(' ');
}

function importLoad(imports: Imports): string {
  const bind = (module: string, name: string) =>
    name.startsWith('default:') ? `const { default: ${name.slice(8)} } = await import('${module}');` : `const ${name} = await import('${module}');`;
  return ["await import('reflect-metadata');", ...Object.entries(imports).map(([module, name]) => bind(module, name))].join(' ');
}

/** Runs `body` (async JavaScript) after loading `imports` with require() (CJS) or import() (ESM); returns stdout. */
export function runBuilt(system: 'cjs' | 'esm', imports: Imports, body: string, timeout = 25_000): string {
  const args =
    system === 'cjs'
      ? ['-e', `(async () => { ${requireLoad(imports)} ${body} })().catch((e) => { console.error(e); process.exit(1); });`]
      : ['--input-type=module', '-e', `${importLoad(imports)} ${body}`];
  return execFileSync(process.execPath, args, { cwd: repoRoot, encoding: 'utf8', timeout }).trim();
}

/**
 * JavaScript that defines a `Tenant` and a scoped `Note` with decorators applied as plain calls
 * (what TypeScript's legacy decorators compile to), and an initialized SQLite DataSource `ds` with
 * its `tenancy`. Needs `typeorm` and the library (`lib`) in scope.
 */
export const notesWorld = `
  const { DataSource, Entity, Column, PrimaryGeneratedColumn } = typeorm;
  const { Tenancy, TenantEntity, TenantScoped, TenantMismatchError } = lib;
  class Tenant {}
  PrimaryGeneratedColumn()(Tenant.prototype, 'id');
  Entity('tenants')(Tenant); TenantEntity()(Tenant);
  class Note {}
  PrimaryGeneratedColumn()(Note.prototype, 'id');
  Column('varchar')(Note.prototype, 'text');
  TenantScoped()(Note); Entity('notes')(Note);
  const ds = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [Tenant, Note], synchronize: true });
  const tenancy = new Tenancy(ds);
  await ds.initialize();`;
