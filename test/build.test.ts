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
});
