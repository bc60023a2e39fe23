import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NodeRuntime } from './node22.js';

/**
 * Runs one benchmark step in its own node process (so JIT state, heap and native drivers of one
 * step never touch another) and returns the JSON it wrote to --result. Its output streams through.
 */
export async function runChild<T>(script: string, args: string[], nodeFlags: string[] = [], runtime?: NodeRuntime): Promise<T> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tenancy-bench-'));
  const resultFile = path.join(dir, 'result.json');
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(runtime?.execPath ?? process.execPath, [...nodeFlags, script, ...args, '--result', resultFile], {
        stdio: 'inherit',
        env: { ...process.env, ...runtime?.env },
      });
      child.once('error', reject);
      child.once('exit', resolve);
    });
    if (code !== 0) throw new Error(`${path.basename(script)} ${args.join(' ')} exited with ${code}`);
    return JSON.parse(readFileSync(resultFile, 'utf8')) as T;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
