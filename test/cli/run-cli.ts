import { spawn } from 'node:child_process';
import { join } from 'node:path';

// The CLI tests run the BUILT binary, as a user would (test/support/build-setup.ts builds dist/ first).
export const root = join(import.meta.dirname, '..', '..');
export const cliPath = join(root, 'dist', 'cli.cjs');

export const fixtures = {
  cjs: join(root, 'test', 'fixtures', 'cli-data-source.cjs'),
  esm: join(root, 'test', 'fixtures', 'cli-data-source.mjs'),
};

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/cli.cjs ...args` with the fixture's env vars (and none inherited from the caller). */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, command: string[] = [process.execPath, cliPath]): Promise<CliResult> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('CLI_FIXTURE_') && name !== 'TYPEORM_TENANCY_DATA_SOURCE'),
  );
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, [...command.slice(1), ...args], {
      cwd: root,
      env: { ...inherited, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs a CommonJS snippet in a child node process (from the repository root) and returns its stdout. */
export async function runNode(script: string, env: Record<string, string | undefined> = {}): Promise<string> {
  const result = await runCli(['-e', `(async () => { ${script} })().catch((e) => { console.error(e); process.exit(1); });`], env, [process.execPath]);
  if (result.code !== 0) throw new Error(`node -e failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}
