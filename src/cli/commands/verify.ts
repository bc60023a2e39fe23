import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { ExitCode } from '../errors.js';
import { problemLines, toJson } from '../output.js';

export function registerVerifyCommand(program: Command, ctx: CommandContext): void {
  program
    .command('verify')
    .description('check tenant safety of the schema: unique keys without the tenant column and, with rowLevelSecurity, everything rls:verify checks')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExits with code 1 when there is any problem.')
    .action(async (options: { json?: boolean }) => {
      await ctx.withDataSource(async ({ tenancy }) => {
        const report = await tenancy.verify();
        ctx.io.stdout.write(options.json ? `${toJson(report)}\n` : problemLines('Tenancy', report));
        if (!report.ok) ctx.fail(ExitCode.failed);
      });
    });
}
