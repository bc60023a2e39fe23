import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminQuery, createTestDatabase, type TestDatabase } from '../support/databases.js';
import { fixtures, runCli, runNode } from './run-cli.js';

// The built binary on PostgreSQL: the schema strategy's migrate:all, and rls:sql / rls:verify.
const noServer = !inject('pgUrl');
if (noServer && process.env.CI === 'true') throw new Error('No PostgreSQL server for the CLI tests in CI (pgUrl is empty).');

/** Runs SQL on a test database (not through the CLI). */
async function sql(url: string, text: string): Promise<Array<Record<string, unknown>>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows as Array<Record<string, unknown>>;
  } finally {
    await client.end();
  }
}

describe.skipIf(noServer)(noServer ? 'typeorm-tenancy CLI on PostgreSQL (SKIPPED: no PostgreSQL server)' : 'typeorm-tenancy CLI on PostgreSQL', { timeout: 90_000 }, () => {
  describe('shards', () => {
    const dbs: TestDatabase[] = [];
    let env: Record<string, string>;
    const cli = (...args: string[]) => runCli(['--data-source', fixtures.cjs, ...args], env);
    const url = (db: TestDatabase) => (db.options.type === 'postgres' ? db.options.url : '');

    beforeAll(async () => {
      for (let i = 0; i < 3; i++) dbs.push(await createTestDatabase('postgres'));
      env = { CLI_FIXTURE_PG_URL: url(dbs[0]!), CLI_FIXTURE_SHARDS: `${url(dbs[1]!)},${url(dbs[2]!)}` };
    });
    afterAll(async () => {
      for (const db of dbs) await db.drop();
    });

    it('tenants:add puts each tenant in its shard; migrate:all migrates every shard', async () => {
      for (const name of ['acme', 'globex', 'initech']) expect((await cli('tenants:add', '--name', name)).code).toBe(0);
      const tenantsOf = async (db: TestDatabase) => (await sql(url(db), 'SELECT id FROM tenants ORDER BY id')).map((r) => r.id);
      expect([await tenantsOf(dbs[1]!), await tenantsOf(dbs[2]!)]).toEqual([[2], [1, 3]]);
      expect(await cli('migrate:all')).toMatchObject({ code: 0, stdout: 'Migrated 2 of 2 shards; 0 failed.\n', stderr: '' });
      const summary = JSON.parse((await cli('migrate:all', '--json')).stdout) as { succeeded: number[]; shards: { succeeded: string[] } };
      // Tenants in succeeded/failed; shards in their own fields.
      summary.succeeded.sort();
      summary.shards.succeeded.sort();
      expect(summary).toEqual({ strategy: 'shards', total: 3, succeeded: [1, 2, 3], failed: [], shards: { total: 2, succeeded: ['s0', 's1'], failed: [] } });
    });
  });

  describe('migrate:all with the schema strategy', () => {
    let db: TestDatabase;
    let env: Record<string, string>;
    const cli = (...args: string[]) => runCli(['--data-source', fixtures.cjs, ...args], env);

    beforeAll(async () => {
      db = await createTestDatabase('postgres');
      if (db.options.type !== 'postgres') throw new Error('expected postgres');
      env = { CLI_FIXTURE_PG_URL: db.options.url, CLI_FIXTURE_STRATEGY: 'schema' };
    });
    afterAll(async () => db?.drop());

    it('creates a schema per tenant, migrates them all, and removes one with its schema', async () => {
      for (const name of ['acme', 'globex', 'initech']) expect((await cli('tenants:add', '--name', name)).code).toBe(0);
      const schemas = async () =>
        (await sql(env.CLI_FIXTURE_PG_URL!, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%' ORDER BY 1")).map((r) => r.nspname);
      expect(await schemas()).toEqual(['tenant_1', 'tenant_2', 'tenant_3']);

      expect(await cli('migrate:all', '--concurrency', '2')).toMatchObject({ code: 0, stdout: 'Migrated 3 of 3 tenants; 0 failed.\n', stderr: '' });

      expect(await cli('tenants:add', '--name', 'hooli')).toMatchObject({ code: 0, stdout: '4\n' });
      expect(await cli('tenants:remove', '4')).toMatchObject({ code: 0, stdout: 'Removed Tenant 4.\n' });
      expect(await schemas()).toEqual(['tenant_1', 'tenant_2', 'tenant_3']);
    });

    it('goes on past a failing tenant, names it in the summary and exits with code 1', async () => {
      // Tenant 2's schema is broken: its notes table is a view, which synchronize cannot alter.
      await sql(env.CLI_FIXTURE_PG_URL!, 'DROP TABLE tenant_2.notes; CREATE VIEW tenant_2.notes AS SELECT 1 AS x');

      const result = await cli('migrate:all');
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(''); // no progress bar when stderr is not a terminal
      const [headline, failure, ...rest] = result.stdout.split('\n');
      expect(headline).toBe('Migrated 2 of 3 tenants; 1 failed.');
      expect(failure).toMatch(/^ {2}tenant 2: \S.*"notes"/);
      expect(rest).toEqual(['']);

      const json = await cli('migrate:all', '--json', '--concurrency', '1');
      expect(json.code).toBe(1);
      const summary = JSON.parse(json.stdout) as { strategy: string; total: number; succeeded: number[]; failed: Array<{ tenant: number; error: string }> };
      expect(summary).toMatchObject({ strategy: 'schema', total: 3, succeeded: [1, 3], failed: [{ tenant: 2 }] });
      expect(summary.failed[0]!.error).toContain('"notes"');
    });

    it.skipIf(!existsSync('/usr/bin/script'))('draws a progress bar on a terminal', async () => {
      // util-linux `script` gives the command a pseudo-terminal, as a person's shell would.
      const command = [process.execPath, 'dist/cli.cjs', '--data-source', fixtures.cjs, 'migrate:all'].map((a) => `'${a}'`).join(' ');
      const result = await runCli(['-qec', command, '/dev/null'], env, ['/usr/bin/script']);
      expect(result.stdout).toContain('3/3 tenants | 1 failed');
      expect(result.stdout).toContain('100%');
      expect(result.stdout).toContain('Migrated 2 of 3 tenants; 1 failed.');
      expect(result.code).toBe(1);
    });
  });

  describe('rls:sql and rls:verify', () => {
    let db: TestDatabase;
    let url: string;
    const role = `cli_app_${randomBytes(4).toString('hex')}`;
    const rlsEnv = () => ({ CLI_FIXTURE_PG_URL: url, CLI_FIXTURE_RLS: '1' });

    beforeAll(async () => {
      db = await createTestDatabase('postgres');
      if (db.options.type !== 'postgres') throw new Error('expected postgres');
      url = db.options.url;
    });
    afterAll(async () => {
      await db?.drop();
      await adminQuery(`DROP ROLE IF EXISTS ${role}`);
    });

    // What the library itself generates, computed in a separate process from the same module.
    const statements = () =>
      runNode(
        `const { dataSource, tenancy } = require('./test/fixtures/cli-data-source.cjs');
         await dataSource.initialize();
         console.log(JSON.stringify(tenancy.rls.statements()));
         await dataSource.destroy();`,
        rlsEnv(),
      ).then((out) => JSON.parse(out) as { up: string[]; down: string[] });

    it('rls:sql prints tenancy.rls.statements().up, and .down with --down', async () => {
      const expected = await statements();
      expect(expected.up.length).toBeGreaterThan(0);
      const up = await runCli(['-d', fixtures.cjs, 'rls:sql'], rlsEnv());
      expect(up).toMatchObject({ code: 0, stderr: '' });
      expect(up.stdout).toBe(expected.up.map((s) => `${s};\n`).join(''));
      const down = await runCli(['-d', fixtures.cjs, 'rls:sql', '--down'], rlsEnv());
      expect(down).toMatchObject({ code: 0, stderr: '' });
      expect(down.stdout).toBe(expected.down.map((s) => `${s};\n`).join(''));
    });

    it('rls:verify lists the problems and exits with code 1, then 0 once the policies are in and the role is right', async () => {
      const before = await runCli(['-d', fixtures.cjs, 'rls:verify'], rlsEnv());
      expect(before.code).toBe(1);
      expect(before.stdout).toMatch(/^Row-level security: \d+ problems\n/);
      expect(before.stdout).toContain('  - [no-rls] "notes": ');
      expect(before.stdout).toContain('  - [no-policy] "notes": ');
      expect(before.stdout).toContain('  - [role-bypasses-rls] '); // the test connects as a superuser
      const json = await runCli(['-d', fixtures.cjs, 'rls:verify', '--json'], rlsEnv());
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, problems: expect.arrayContaining([expect.objectContaining({ kind: 'no-rls', subject: '"notes"' })]) });

      // Install what rls:sql prints, as an administrator would with psql.
      await sql(url, (await runCli(['-d', fixtures.cjs, 'rls:sql'], rlsEnv())).stdout);
      await adminQuery(`CREATE ROLE ${role} LOGIN PASSWORD 'cli' NOSUPERUSER NOBYPASSRLS`);
      const app = new URL(url);
      [app.username, app.password] = [role, 'cli'];
      const appEnv = { ...rlsEnv(), CLI_FIXTURE_PG_URL: app.toString(), CLI_FIXTURE_SYNCHRONIZE: '0' };

      expect(await runCli(['-d', fixtures.cjs, 'rls:verify'], appEnv)).toMatchObject({ code: 0, stdout: 'Row-level security: OK\n', stderr: '' });
      expect(await runCli(['-d', fixtures.cjs, 'verify'], appEnv)).toMatchObject({ code: 0, stdout: 'Tenancy: OK\n', stderr: '' });
    });
  });
});
