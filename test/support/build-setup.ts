import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

// Vitest global setup: the tests of the built package (dist/: the CLI, both module systems, the
// subpath exports) need a build of the current sources. It builds once, before any test, when
// dist/ is missing or was built from other sources; else it reuses it (a build takes ~15 s).

const root = join(import.meta.dirname, '..', '..');
const stamp = join(root, '.tmp', 'dist-inputs.sha256');
/** What the build reads besides src/. */
const configFiles = ['package.json', 'package-lock.json', 'tsdown.config.ts', 'tsconfig.json', 'tsconfig.build.json'];

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : [path];
  });
}

/** A hash of the build's inputs: paths and contents of src/ and the config files. */
function inputsHash(): string {
  const hash = createHash('sha256');
  const files = [...filesUnder(join(root, 'src')), ...configFiles.map((name) => join(root, name))].filter((file) => existsSync(file)).sort();
  for (const file of files) hash.update(`${relative(root, file)}\0`).update(readFileSync(file)).update('\0');
  return hash.digest('hex');
}

/** Whether dist/ is there and nothing rebuilt it since the stamp was written. */
function distMatchesStamp(): boolean {
  const entry = join(root, 'dist', 'index.cjs');
  return existsSync(entry) && existsSync(stamp) && statSync(entry).mtimeMs <= statSync(stamp).mtimeMs;
}

export default function setup(): void {
  const hash = inputsHash();
  if (distMatchesStamp() && readFileSync(stamp, 'utf8') === hash) return;
  console.log('[tests] dist/ is missing or out of date: npm run build ...');
  const build = spawnSync('npm', ['run', 'build'], { cwd: root, encoding: 'utf8', shell: process.platform === 'win32' });
  if (build.status !== 0) {
    throw new Error(`npm run build failed (${build.status ?? build.error}); the tests of the built package need it:\n${(build.stdout + build.stderr).slice(-4_000)}`);
  }
  mkdirSync(join(root, '.tmp'), { recursive: true });
  writeFileSync(stamp, hash);
}
