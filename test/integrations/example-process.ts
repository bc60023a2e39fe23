import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

/**
 * Compiles the examples with tsc, as `npm run example:*` does, into a folder of their own
 * (`npm run demo` may be compiling into .tmp/examples at the same time). Returns the folder
 * with `examples/<name>/main.js` under it; it is inside the repository so node_modules resolve.
 * `--noCheck` emits the same files without type-checking them again (`npm run typecheck` does);
 * not incremental, so the build info of .tmp/examples (what `npm run demo` reuses) is left alone.
 */
export function compileExamples(): { dir: string; remove(): void } {
  const dir = join(root, '.tmp', `test-examples-${randomBytes(4).toString('hex')}`);
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'examples/tsconfig.json', '--noCheck', '--outDir', dir, '--incremental', 'false'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (tsc.status !== 0) throw new Error(`tsc -p examples/tsconfig.json failed:\n${tsc.stdout}\n${tsc.stderr}`);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The environment of an example run: no inherited DATABASE_URL unless given. */
export function exampleEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: '', SQLITE_FILE: '', PORT: '' };
  return { ...env, ...extra };
}

/** Runs a one-shot example command (`add-tenant ...`) and returns its output; throws on failure. */
export function runExample(main: string, args: string[], env: NodeJS.ProcessEnv): string {
  const run = spawnSync(process.execPath, [main, ...args], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
  if (run.status !== 0) throw new Error(`node ${main} ${args.join(' ')} exited ${run.status}:\n${run.stdout}\n${run.stderr}`);
  return run.stdout;
}

export interface RunningExample {
  port: number;
  output(): string;
  stop(): Promise<void>;
}

/** Starts an example server (PORT=0: a free port on 127.0.0.1) and waits for its "listening on" line. */
export function startExample(main: string, env: NodeJS.ProcessEnv): Promise<RunningExample> {
  const child: ChildProcess = spawn(process.execPath, [main], { cwd: root, env: { ...env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => void stop().then(() => reject(new Error(`${main} did not start within 30 s:\n${output}`))), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ port: Number(match[1]), output: () => output, stop });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${main} exited with ${code} before listening:\n${output}`));
    });
  });
}
