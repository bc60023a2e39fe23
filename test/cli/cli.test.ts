import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { fixtures, runCli } from './run-cli.js';

// The built binary against SQLite data source modules in a temp file, so state persists
// between invocations as it would for a user.
const dir = mkdtempSync(join(tmpdir(), 'typeorm-tenancy-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
let env: Record<string, string>;
beforeEach(() => {
  env = { CLI_FIXTURE_SQLITE: join(dir, `db-${++n}.sqlite`) };
});

const commands = ['tenants:add', 'tenants:list', 'tenants:remove', 'migrate:all', 'rls:sql', 'rls:verify', 'verify'];

describe('typeorm-tenancy CLI', { timeout: 60_000 }, () => {
  it('--help lists every command and the data source contract', async () => {
    const { code, stdout } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: typeorm-tenancy [options] [command]');
    expect(stdout).toContain('--data-source <module>');
    for (const command of commands) expect(stdout).toContain(command);
  });

  it.each([
    ['tenants:add', ['--json <values>', '--<property> <value>']],
    ['tenants:list', ['--json']],
    ['tenants:remove', ['<id>']],
    ['migrate:all', ['--concurrency <n>', '--no-progress', '--json']],
    ['rls:sql', ['--down']],
    ['rls:verify', ['--json', 'code 1']],
    ['verify', ['--json', 'code 1']],
  ])('%s --help', async (command, mentions) => {
    expect(commands).toContain(command);
    const { code, stdout, stderr } = await runCli([command, '--help']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain(`Usage: typeorm-tenancy ${command}`);
    for (const text of mentions) expect(stdout).toContain(text);
  });

  it('adds, lists and removes tenants across invocations', async () => {
    const cli = (...args: string[]) => runCli(['--data-source', fixtures.cjs, ...args], env);
    expect(await cli('tenants:list')).toMatchObject({ code: 0, stdout: 'No tenants.\n' });

    expect(await cli('tenants:add', '--name', 'acme')).toMatchObject({ code: 0, stdout: '1\n', stderr: '' });
    // Options after the command, `--prop=value`, kebab-case, conversion by column type.
    expect(await cli('tenants:add', '--name=globex', '--plan', 'pro', '--seats', '5', '--active', 'false')).toMatchObject({ code: 0, stdout: '2\n' });
    expect(await cli('tenants:add', '--json', '{"name":"initech","seats":3}', '--plan', 'team')).toMatchObject({ code: 0, stdout: '3\n' });

    const json = await cli('tenants:list', '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      { id: 1, name: 'acme', plan: 'free', seats: 1, active: true },
      { id: 2, name: 'globex', plan: 'pro', seats: 5, active: false },
      { id: 3, name: 'initech', plan: 'team', seats: 3, active: true },
    ]);
    const listed = await cli('tenants:list');
    expect(listed.code).toBe(0);
    expect(listed.stdout.split('\n')).toEqual([
      '┌────┬─────────┬──────┬───────┬────────┐',
      '│ id │ name    │ plan │ seats │ active │',
      '├────┼─────────┼──────┼───────┼────────┤',
      '│ 1  │ acme    │ free │ 1     │ true   │',
      '│ 2  │ globex  │ pro  │ 5     │ false  │',
      '│ 3  │ initech │ team │ 3     │ true   │',
      '└────┴─────────┴──────┴───────┴────────┘',
      '',
    ]);
    // Columns line up as a terminal shows them: a CJK character takes two columns.
    expect(await cli('tenants:add', '--name', '株式会社')).toMatchObject({ code: 0, stdout: '4\n' });
    expect((await cli('tenants:list')).stdout.split('\n').slice(1, 7)).toEqual([
      '│ id │ name     │ plan │ seats │ active │',
      '├────┼──────────┼──────┼───────┼────────┤',
      '│ 1  │ acme     │ free │ 1     │ true   │',
      '│ 2  │ globex   │ pro  │ 5     │ false  │',
      '│ 3  │ initech  │ team │ 3     │ true   │',
      '│ 4  │ 株式会社 │ free │ 1     │ true   │',
    ]);
    await cli('tenants:remove', '4');

    expect(await cli('tenants:remove', '2')).toMatchObject({ code: 0, stdout: 'Removed Tenant 2.\n' });
    const again = await cli('tenants:remove', '2');
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('error: There is no Tenant with id 2.\n');
    expect(JSON.parse((await cli('tenants:list', '--json')).stdout).map((t: { id: number }) => t.id)).toEqual([1, 3]);
  });

  it('database per tenant: tenants:add creates a tenant database, migrate:all migrates each, tenants:remove deletes it', async () => {
    const tenantDir = mkdtempSync(join(dir, 'tenants-'));
    const cli = (...args: string[]) => runCli(['--data-source', fixtures.cjs, ...args], { ...env, CLI_FIXTURE_STRATEGY: 'database', CLI_FIXTURE_TENANT_DIR: tenantDir });
    for (const name of ['acme', 'globex']) expect((await cli('tenants:add', '--name', name)).code).toBe(0);
    expect(readdirSync(tenantDir).sort()).toEqual(['tenant_1.sqlite', 'tenant_2.sqlite']);
    expect(await cli('migrate:all')).toMatchObject({ code: 0, stdout: 'Migrated 2 of 2 tenants; 0 failed.\n', stderr: '' });
    const summary = JSON.parse((await cli('migrate:all', '--json')).stdout) as { succeeded: number[] };
    expect({ ...summary, succeeded: summary.succeeded.sort() }).toEqual({ strategy: 'database', total: 2, succeeded: [1, 2], failed: [] });
    expect(await cli('tenants:remove', '1')).toMatchObject({ code: 0, stdout: 'Removed Tenant 1.\n' });
    expect(readdirSync(tenantDir)).toEqual(['tenant_2.sqlite']);
  });

  it('refuses bad tenant values and ids with exit code 2, and reports a database error with exit code 1', async () => {
    const cli = (...args: string[]) => runCli(['-d', fixtures.cjs, ...args], env);
    const cases: Array<[string[], string]> = [
      [['tenants:add', '--nam', 'x'], 'Tenant has no property "nam" (from --nam). Its properties: id, name, plan, seats, active.'],
      [['tenants:add', '--json', '{"nme":"x"}'], 'Tenant has no property "nme" (in --json)'],
      [['tenants:add', '--json', '{oops'], '--json is not valid JSON'],
      [['tenants:add', '--json', '[1]'], '--json must be a JSON object'],
      [['tenants:add', '--seats', 'many', '--name', 'x'], '--seats must be a number, not "many".'],
      [['tenants:add', '--name'], '--name needs a value.'],
      [['tenants:add', 'acme'], 'Unexpected argument "acme"'],
      [['tenants:remove', 'abc'], '"abc" is not a tenant id: Tenant ids are integers.'],
      [['tenants:remove'], "missing required argument 'id'"],
      [['migrate:all', '--concurrency', '0'], "argument '0' is invalid. must be a positive integer."],
      [['tenants:lst'], "unknown command 'tenants:lst'"],
    ];
    for (const [args, message] of cases) {
      const result = await cli(...args);
      expect(result.stderr, args.join(' ')).toContain(message);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stdout).toBe('');
    }
    // Required values are checked from the metadata before anything is written.
    const needsName = 'error: Tenant needs a value for "name" (NOT NULL, no default). Pass --name <value>, or --json \'{"name":"…"}\'.\n';
    for (const args of [['tenants:add'], ['tenants:add', '--plan', 'pro'], ['tenants:add', '--json', '{"name":null}']]) {
      expect(await cli(...args), args.join(' ')).toMatchObject({ code: 2, stdout: '', stderr: needsName });
    }
    expect(JSON.parse((await cli('tenants:list', '--json')).stdout)).toEqual([]);
    // What only the database can refuse is its error, exit code 1.
    const refused = await cli('tenants:add', '--json', '{"name":"acme","id":"not a number"}');
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toMatch(/^error: /);
  });

  it('rls:sql prints the policies without connecting (unreachable database); without rowLevelSecurity rls:* exit with code 2', async () => {
    const offline = { CLI_FIXTURE_PG_URL: 'postgres://nobody@127.0.0.1:1/none', CLI_FIXTURE_SYNCHRONIZE: '0' };
    const unbound = `NULLIF(current_setting('app.tenant_id', true), '') IS NULL`;
    const up = await runCli(['-d', fixtures.cjs, 'rls:sql'], { ...offline, CLI_FIXTURE_RLS: '1' });
    expect(up).toMatchObject({ code: 0, stderr: '' });
    expect(up.stdout.split('\n')).toEqual([
      'ALTER TABLE "notes" ENABLE ROW LEVEL SECURITY;',
      'ALTER TABLE "notes" FORCE ROW LEVEL SECURITY;',
      'DROP POLICY IF EXISTS "tenancy_isolation" ON "notes";',
      `CREATE POLICY "tenancy_isolation" ON "notes" USING ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')::integer) WITH CHECK ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')::integer);`,
      // The tenant table: a bound transaction sees and updates its own row only, and inserts or deletes none.
      'ALTER TABLE "tenants" ENABLE ROW LEVEL SECURITY;',
      'ALTER TABLE "tenants" FORCE ROW LEVEL SECURITY;',
      'DROP POLICY IF EXISTS "tenancy_isolation" ON "tenants";',
      `CREATE POLICY "tenancy_isolation" ON "tenants" USING ((${unbound}) OR ("id" = NULLIF(current_setting('app.tenant_id', true), '')::integer)) WITH CHECK ((${unbound}) OR ("id" = NULLIF(current_setting('app.tenant_id', true), '')::integer));`,
      'DROP POLICY IF EXISTS "tenancy_isolation_insert" ON "tenants";',
      `CREATE POLICY "tenancy_isolation_insert" ON "tenants" AS RESTRICTIVE FOR INSERT WITH CHECK (${unbound});`,
      'DROP POLICY IF EXISTS "tenancy_isolation_delete" ON "tenants";',
      `CREATE POLICY "tenancy_isolation_delete" ON "tenants" AS RESTRICTIVE FOR DELETE USING (${unbound});`,
      '',
    ]);
    const down = await runCli(['-d', fixtures.cjs, 'rls:sql', '--down'], { ...offline, CLI_FIXTURE_RLS: '1' });
    expect(down).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^DROP POLICY IF EXISTS "tenancy_isolation" ON "notes";\n/) });
    // rls:verify needs the database: the connection error, exit code 1.
    expect(await runCli(['-d', fixtures.cjs, 'rls:verify'], { ...offline, CLI_FIXTURE_RLS: '1' })).toMatchObject({ code: 1, stderr: expect.stringMatching(/ECONNREFUSED/) });
    for (const command of ['rls:sql', 'rls:verify']) {
      expect(await runCli(['-d', fixtures.cjs, command], offline)).toMatchObject({
        code: 2,
        stdout: '',
        stderr: `error: ${command} needs a Tenancy created with rowLevelSecurity (PostgreSQL); the data source module's Tenancy has none. Pass new Tenancy(dataSource, { rowLevelSecurity: true }).\n`,
      });
    }
  });

  it.each([
    ['CommonJS named exports (exports.dataSource, exports.tenancy)', fixtures.cjs, 'named'],
    ['CommonJS as tsc compiles `export default dataSource` + `export const tenancy`', fixtures.cjs, 'default'],
    ['CommonJS with only the tenancy exported', fixtures.cjs, 'tenancy-only'],
    ['ESM `export default dataSource` + `export const tenancy`, typeorm-tenancy through import', fixtures.esm, undefined],
  ])('loads %s', async (_name, file, style) => {
    const styleEnv = { ...env, CLI_FIXTURE_EXPORT: style };
    expect(await runCli(['--data-source', file, 'tenants:add', '--name', 'acme'], styleEnv)).toMatchObject({ code: 0, stdout: '1\n', stderr: '' });
    const listed = await runCli(['tenants:list', '--json', '--data-source', file], styleEnv);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ id: 1, name: 'acme' }]);
  });

  it('takes the data source from TYPEORM_TENANCY_DATA_SOURCE, relative to the working directory', async () => {
    const result = await runCli(['tenants:list'], { ...env, TYPEORM_TENANCY_DATA_SOURCE: 'test/fixtures/cli-data-source.cjs' });
    expect(result).toMatchObject({ code: 0, stdout: 'No tenants.\n', stderr: '' });
  });

  describe('a missing or invalid --data-source is a clear error with exit code 2', () => {
    it.each([
      ['no --data-source', [], {}, /^error: This command needs the DataSource: pass --data-source <module>/],
      ['a path that does not exist', ['--data-source', 'nowhere/data-source.js'], {}, /^error: Cannot find the data source module "nowhere\/data-source\.js" \(looked for .*nowhere\/data-source\.js\)/],
      ['a module without a Tenancy', ['-d', fixtures.cjs], { CLI_FIXTURE_EXPORT: 'none' }, /exports no Tenancy \(its exports: dataSource\)\. Export it as `export const tenancy = new Tenancy\(dataSource\)`/],
      ['a dataSource export that is not the Tenancy\'s', ['-d', fixtures.cjs], { CLI_FIXTURE_EXPORT: 'mismatch' }, /the export "dataSource" of .* is not the DataSource its Tenancy was created for/],
      ['a module that throws while loading', ['-d', fixtures.cjs], { CLI_FIXTURE_EXPORT: 'bogus' }, /^error: Loading the data source module .*cli-data-source\.cjs failed: unknown CLI_FIXTURE_EXPORT bogus\.\n$/],
      ['a TypeScript file', ['-d', 'test/fixtures/blog.ts'], {}, /A TypeScript module needs a loader/],
      ['a module that is not a data source module', ['-d', 'package.json'], {}, /package\.json exports no Tenancy/],
    ])('%s', async (_name, args, extra, message) => {
      const result = await runCli([...args, 'tenants:list'], { ...env, ...extra });
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(message);
      expect(result.code).toBe(2);
    });

    it('prints the stack with --verbose', async () => {
      const result = await runCli(['--verbose', '-d', fixtures.cjs, 'tenants:list'], { ...env, CLI_FIXTURE_EXPORT: 'bogus' });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/caused by: Error: unknown CLI_FIXTURE_EXPORT bogus\n\s+at /);
    });
  });

  it('reports a DataSource that cannot initialize with exit code 1', async () => {
    const result = await runCli(['-d', fixtures.cjs, 'tenants:list'], { CLI_FIXTURE_PG_URL: 'postgres://nobody@127.0.0.1:1/none' });
    expect(result.stderr).toMatch(/^error: Initializing the DataSource of .*cli-data-source\.cjs failed: .*ECONNREFUSED/);
    expect(result.code).toBe(1);
  });

  it('migrate:all with the row strategy runs the shared migrations once', async () => {
    await runCli(['-d', fixtures.cjs, 'tenants:add', '--name', 'acme'], env);
    expect(await runCli(['-d', fixtures.cjs, 'migrate:all'], env)).toMatchObject({
      code: 0,
      stdout: "Ran the DataSource's pending migrations (row strategy: one set of shared tables, nothing per tenant).\n",
      stderr: '',
    });
    const json = await runCli(['-d', fixtures.cjs, 'migrate:all', '--json'], env);
    expect(JSON.parse(json.stdout)).toEqual({ strategy: 'row', total: 0, succeeded: [], failed: [] });
  });

  it('verify prints OK, or the problems with exit code 1', async () => {
    expect(await runCli(['-d', fixtures.cjs, 'verify'], env)).toMatchObject({ code: 0, stdout: 'Tenancy: OK\n', stderr: '' });
    const bad = await runCli(['-d', fixtures.cjs, 'verify'], { ...env, CLI_FIXTURE_GLOBAL_UNIQUE: '1' });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe(
      'Tenancy: 1 problem\n' +
        '  - [global-unique] notes(title): Note: UNIQUE (title) does not include tenant_id, so tenants collide on it. Use @TenantUnique([...]) instead.\n',
    );
    const json = await runCli(['-d', fixtures.cjs, 'verify', '--json'], { ...env, CLI_FIXTURE_GLOBAL_UNIQUE: '1' });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, problems: [{ kind: 'global-unique', subject: 'notes(title)' }] });
  });

  it('rls:sql without rowLevelSecurity says how to turn it on, exit code 2 (a configuration error)', async () => {
    const result = await runCli(['-d', fixtures.cjs, 'rls:sql'], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "error: rls:sql needs a Tenancy created with rowLevelSecurity (PostgreSQL); the data source module's Tenancy has none. Pass new Tenancy(dataSource, { rowLevelSecurity: true }).\n",
    );
  });

  it('prints its version', async () => {
    const result = await runCli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });
});
