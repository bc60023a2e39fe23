import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// Runs examples/blog the way a user does (`npm run demo`: tsc, then node) on SQLite.
describe('examples/blog', () => {
  it('prints the scoped schema, reads, join and refusals, and exits 0', () => {
    const run = spawnSync('npm', ['run', '--silent', 'demo'], {
      cwd: new URL('..', import.meta.url),
      env: { ...process.env, DATABASE_URL: '' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    const out = run.stdout;
    expect(run.status, `${out}\n${run.stderr}`).toBe(0);

    const lines = out.split('\n');
    expect(lines.some((l) => l.includes('CREATE TABLE "posts"') && l.includes('"tenant_id"') && l.includes('REFERENCES "tenants"'))).toBe(true);
    expect(lines.some((l) => /LEFT JOIN .* ON .*tenant_id" = /.test(l))).toBe(true);

    // acme's find(Post) section shows acme's posts and none of globex's.
    const acme = out.slice(out.indexOf('=== 3. acme'), out.indexOf('=== 3. globex'));
    expect(acme).toContain('Acme rocket skates');
    expect(acme).toContain('Acme anvil pricing');
    expect(acme).not.toContain('Globex');

    expect(out).toContain('TenantMismatchError');
    expect(out).toContain('UnsafeQueryError');
  }, 130_000);
});
