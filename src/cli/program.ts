import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { registerMigrateAllCommand } from './commands/migrate-all.js';
import { registerRlsCommands } from './commands/rls.js';
import { registerTenantCommands } from './commands/tenants.js';
import { registerVerifyCommand } from './commands/verify.js';
import type { CommandContext } from './context.js';
import { CliError, ExitCode, formatError } from './errors.js';
import { type Io, processIo } from './io.js';
import { withDataSource } from './session.js';

interface GlobalOptions {
  dataSource?: string;
  verbose?: boolean;
}

/** Builds the `typeorm-tenancy` program; `state.exitCode` collects failures reported without throwing. */
export function createProgram(io: Io, state: { exitCode: number }): Command {
  const program = new Command('typeorm-tenancy');
  const ctx: CommandContext = {
    io,
    withDataSource: (work, options) => withDataSource(program.opts<GlobalOptions>().dataSource, io, work, options),
    fail: (code = ExitCode.failed) => {
      state.exitCode = Math.max(state.exitCode, code);
    },
  };
  program
    .description('Tenants, migrations and row-level security of a typeorm-tenancy DataSource.')
    .addOption(
      new Option('-d, --data-source <module>', 'compiled JS module (CommonJS or ESM) exporting the DataSource and its Tenancy').env('TYPEORM_TENANCY_DATA_SOURCE'),
    )
    .option('--verbose', 'print stack traces of errors')
    .exitOverride()
    .configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) })
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText(
      'after',
      [
        '',
        'The --data-source module exports `tenancy` (the Tenancy) and optionally `dataSource` (named or default export);',
        'the CLI initializes the DataSource when the module has not and destroys it at the end.',
        'Exit codes: 0 done, 1 the command failed (a tenant failed, verify found problems), 2 bad arguments or data source module.',
      ].join('\n'),
    );
  const version = packageVersion();
  if (version) program.version(version, '-V, --version');
  registerTenantCommands(program, ctx);
  registerMigrateAllCommand(program, ctx);
  registerRlsCommands(program, ctx);
  registerVerifyCommand(program, ctx);
  return program;
}

/** Runs the CLI on `argv` (`process.argv` form) and resolves to the exit code. Never throws. */
export async function runCli(argv: readonly string[], io: Io = processIo): Promise<number> {
  const state = { exitCode: 0 };
  const program = createProgram(io, state);
  try {
    await program.parseAsync(argv as string[]);
    return state.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version are exit code 0; commander has already printed its message.
      return error.exitCode === 0 ? 0 : ExitCode.usage;
    }
    io.stderr.write(formatError(error, program.opts<GlobalOptions>().verbose === true));
    return error instanceof CliError ? error.exitCode : ExitCode.failed;
  }
}

/** The version in this package's package.json (dist/cli.cjs → ../package.json). */
function packageVersion(): string | undefined {
  try {
    const script = typeof __filename === 'string' ? __filename : realpathSync(process.argv[1] ?? '');
    for (let dir = dirname(script); dirname(dir) !== dir; dir = dirname(dir)) {
      const manifest = join(dir, 'package.json');
      if (!existsSync(manifest)) continue;
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'typeorm-tenancy') return pkg.version;
    }
  } catch {
    // no version: --version is left out
  }
  return undefined;
}
