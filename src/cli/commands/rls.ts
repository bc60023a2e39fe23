import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { ExitCode } from '../errors.js';
import { problemLines, toJson } from '../output.js';

export function registerRlsCommands(program: Command, ctx: CommandContext): void {
  program
    .command('rls:sql')
    .description('print the row-level-security DDL (PostgreSQL, Tenancy created with rowLevelSecurity), one statement per ";"')
    .option('--down', 'print the statements that remove the policies instead')
    .action(async (options: { down?: boolean }) => {
      await ctx.withDataSource(async ({ tenancy }) => {
        const statements = tenancy.rls.statements();
        const chosen = options.down ? statements.down : statements.up;
        ctx.io.stdout.write(chosen.map((sql) => `${sql};\n`).join(''));
      });
    });

  program
    .command('rls:verify')
    .description('check the live database: policies present, forced, not drifted, indexed, and a role they apply to')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExits with code 1 when there is any problem.')
    .action(async (options: { json?: boolean }) => {
      await ctx.withDataSource(async ({ tenancy }) => {
        const report = await tenancy.rls.verify();
        ctx.io.stdout.write(options.json ? `${toJson(report)}\n` : problemLines('Row-level security', report));
        if (!report.ok) ctx.fail(ExitCode.failed);
      });
    });
}
