import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NodeRuntime } from './node22.js';

/**
 * Runs one benchmark step in its own node process (so JIT state, heap and native drivers of one
 * step never touch another) and returns the JSON it wrote to --result. Its output streams through.
 */
export async function runChild<T>(script: string, args: string[], nodeFlags: string[] = [], runtime?: NodeRuntime, cpu?: number): Promise<T> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tenancy-bench-'));
  const resultFile = path.join(dir, 'result.json');
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const command = [runtime?.execPath ?? process.execPath, ...nodeFlags, script, ...args, '--result', resultFile];
      // Pinned to one CPU (taskset): the process never migrates, its GC and compiler threads share that CPU.
      if (cpu !== undefined) command.unshift('taskset', '-c', String(cpu));
      const child = spawn(command[0]!, command.slice(1), {
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

/**
 * The CPU to pin the whole-process apps to: the machine's last (Linux with taskset), so both sides
 * always run on the same core; undefined where taskset is missing or --no-pin was given.
 */
export function pinnedCpu(pin: boolean): number | undefined {
  if (!pin || process.platform !== 'linux') return undefined;
  const probe = spawnSync('taskset', ['-c', '0', 'true']);
  return probe.status === 0 ? Math.max(0, os.cpus().length - 1) : undefined;
}

/** Two CPUs for --together (the first two; taskset needed): a pair's processes run one on each. */
export function simultaneousCpus(): [number, number] {
  if (process.platform !== 'linux' || spawnSync('taskset', ['-c', '0', 'true']).status !== 0 || os.cpus().length < 2) {
    throw new Error('--together needs Linux with taskset and at least 2 CPUs');
  }
  return [0, 1];
}
