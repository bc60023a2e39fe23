import { spawnSync } from 'node:child_process';
import { describe, expect, inject, it } from 'vitest';

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

// Runs examples/strategies: the same application code on row level, a SQLite file per tenant and,
// with the test server, a PostgreSQL schema per tenant.
describe('examples/strategies', () => {
  it('the same application code gives each tenant its own rows on every strategy', () => {
    const pgUrl = inject('pgUrl');
    const run = spawnSync('npm', ['run', '--silent', 'example:strategies'], {
      cwd: new URL('..', import.meta.url),
      env: { ...process.env, DATABASE_URL: pgUrl ?? '' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    const out = run.stdout;
    expect(run.status, `${out}\n${run.stderr}`).toBe(0);
    const sections = out.split('\n=== ').slice(1);
    expect(sections.map((s) => s.slice(0, s.indexOf(':')))).toEqual(pgUrl ? ['row level', 'database per tenant', 'schema per tenant'] : ['row level', 'database per tenant']);
    for (const section of sections) {
      expect(section).toContain('acme sees ["acme: hello","acme: news"]');
      expect(section).toContain('globex sees ["globex: hello","globex: news"]');
    }
    expect(out).toContain('rows live in: tenant_1.sqlite, tenant_2.sqlite');
    if (pgUrl) expect(out).toContain('rows live in: public.posts, tenant_1.posts, tenant_2.posts');
  }, 130_000);
});
