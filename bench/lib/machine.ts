import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface MachineInfo {
  date: string;
  cpus: { count: number; model: string; speedMHz: number };
  memoryGiB: number;
  os: string;
  node: string;
  v8: string;
  packages: Record<string, string>;
  /** HEAD, the last commit that changed src/ (the library measured), and whether src/ has uncommitted changes. */
  git: { commit: string; srcCommit?: string; dirty: boolean };
}

function packageVersion(root: string, name: string): string {
  try {
    return (JSON.parse(readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

function git(root: string, args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

export function machineInfo(root: string): MachineInfo {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    cpus: { count: cpus.length, model: cpus[0]?.model ?? 'unknown', speedMHz: cpus[0]?.speed ?? 0 },
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    v8: process.versions.v8,
    packages: Object.fromEntries(
      ['typeorm', 'better-sqlite3', 'pg', '@mikro-orm/core', '@mikro-orm/postgresql', 'vega', 'vega-lite'].map((name) => [name, packageVersion(root, name)]),
    ),
    git: { commit: git(root, ['rev-parse', '--short', 'HEAD']), srcCommit: git(root, ['log', '-1', '--format=%h', '--', 'src']), dirty: git(root, ['status', '--porcelain', '--', 'src']) !== '' },
  };
}
