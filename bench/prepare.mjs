// `npm run bench` runs this first: it installs the benchmark's own dependencies (bench/package.json,
// bench/package-lock.json: the chart's vega, and the MikroORM peer, an optional dependency npm
// installs on Node >= 22.17 only) when they are missing or the lock file changed, then compiles the
// benchmark with tsc into bench/.build. The library's own install (the repository's npm ci) never
// sees these packages.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const bench = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(bench);
const log = (message) => process.stderr.write(`${message}\n`);

if (!existsSync(path.join(root, 'node_modules/typeorm')) || !existsSync(path.join(root, 'node_modules/typescript'))) {
  log('bench: the repository has no node_modules; run `npm ci` in the repository root first.');
  process.exit(2);
}

// Reinstall when the lock file or Node's major version changed (which optional packages npm installs depends on it).
const stamp = path.join(bench, 'node_modules/.bench-installed');
const wanted = createHash('sha256').update(readFileSync(path.join(bench, 'package-lock.json'))).update(process.versions.node.split('.')[0]).digest('hex');
if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== wanted) {
  log('bench: installing bench/package.json (npm ci --prefix bench) ...');
  const npm = process.env.npm_execpath;
  const [command, args] = npm ? [process.execPath, [npm]] : ['npm', []];
  execFileSync(command, [...args, 'ci', '--prefix', bench, '--no-audit', '--no-fund'], { stdio: 'inherit' });
  writeFileSync(stamp, wanted);
}

const tsc = (project) => execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', project], { stdio: 'inherit' });
tsc(path.join(bench, 'tsconfig.json'));
if (existsSync(path.join(bench, 'node_modules/@mikro-orm/core/package.json'))) tsc(path.join(bench, 'peer/tsconfig.json'));
