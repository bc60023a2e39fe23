/**
 * Exit codes of `typeorm-tenancy`:
 * - 0: done;
 * - 1: the command ran and failed (a tenant failed to migrate, `verify` found problems, a query failed);
 * - 2: the command could not start (bad arguments, or the `--data-source` module is missing,
 *   failed to load or exports no Tenancy).
 */
export const ExitCode = { ok: 0, failed: 1, usage: 2 } as const;

/** An error the CLI reports as one clear line (no stack trace unless `--verbose`). */
export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode: number = ExitCode.failed, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** Bad invocation: exit code 2. */
export class UsageError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.usage, options);
    this.name = 'UsageError';
  }
}

/** The message of any thrown value, with the `code` of a TenancyError or driver error when it has one. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const prefix = typeof code === 'string' && !(error instanceof CliError) && !error.message.includes(code) ? `${code}: ` : '';
  return `${prefix}${error.message}`;
}

/** Message, then each `cause` on its own line; with `verbose`, the stack traces. */
export function formatError(error: unknown, verbose: boolean): string {
  const lines: string[] = [];
  let previous = '';
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    const message = describeError(current);
    // A cause whose message the outer one already quotes adds nothing, except its stack.
    if (depth === 0 || verbose || !previous.includes(message)) {
      const text = verbose && current instanceof Error && current.stack ? current.stack : message;
      lines.push(depth === 0 ? `error: ${text}` : `  caused by: ${text}`);
    }
    previous = message;
    current = current instanceof Error ? current.cause : undefined;
  }
  return `${lines.join('\n')}\n`;
}
