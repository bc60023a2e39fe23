import type { Command } from 'commander';
import type { Tenancy } from '../../tenancy.js';
import type { CommandContext } from '../context.js';
import { ExitCode, UsageError } from '../errors.js';
import { problemLines, toJson } from '../output.js';
import { connect } from '../session.js';

/** The rls:* commands need a Tenancy created with rowLevelSecurity: a configuration error (exit code 2) otherwise. */
function requireRowLevelSecurity(tenancy: Tenancy, command: string): void {
  if (tenancy.options.rowLevelSecurity) return;
  throw new UsageError(
    `${command} needs a Tenancy created with rowLevelSecurity (PostgreSQL); the data source module's Tenancy has none. ` +
      'Pass new Tenancy(dataSource, { rowLevelSecurity: true }).',
  );
}

export function registerRlsCommands(program: Command, ctx: CommandContext): void {
  program
    .command('rls:sql')
    .description('print the row-level-security DDL (PostgreSQL, Tenancy created with rowLevelSecurity), one statement per ";"')
    .option('--down', 'print the statements that remove the policies instead')
    .addHelpText('after', '\nNeeds no database: the DDL comes from the entity metadata, without connecting.')
    .action(async (options: { down?: boolean }) => {
      await ctx.withDataSource(
        async ({ tenancy }) => {
          requireRowLevelSecurity(tenancy, 'rls:sql');
          const statements = tenancy.rls.statements();
          const chosen = options.down ? statements.down : statements.up;
          ctx.io.stdout.write(chosen.map((sql) => `${sql};\n`).join(''));
        },
        { connect: false },
      );
    });

  program
    .command('rls:verify')
    .description('check the live database: policies present, forced, not drifted, indexed, and a role they apply to')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExits with code 1 when there is any problem.')
    .action(async (options: { json?: boolean }) => {
      await ctx.withDataSource(
        async (loaded) => {
          requireRowLevelSecurity(loaded.tenancy, 'rls:verify');
          await connect(loaded);
          const report = await loaded.tenancy.rls.verify();
          ctx.io.stdout.write(options.json ? `${toJson(report)}\n` : problemLines('Row-level security', report));
          if (!report.ok) ctx.fail(ExitCode.failed);
        },
        { connect: false },
      );
    });
}
