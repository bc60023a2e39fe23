import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { runChild } from './lib/child.js';
import { parseFlags } from './lib/cli.js';
import { setBenchKeys } from './lib/keys.js';
import { machineInfo } from './lib/machine.js';
import { createBenchDatabase, defaultPgUrl, serverVersion, unreachable } from './lib/postgres-admin.js';
import { compareProfiles, summarizeWholeProcessProfiles } from './report/profile.js';
import { runVariant, type WholeProcessRun, writeWholeProcessOutputs } from './report/whole-process.js';
import { currentNode, ensureNode22 } from './lib/node22.js';
import { profileWholeProcess, runWholeProcess, type WholeProcessResult } from './process/whole-process.js';
import type { DatabaseReport, PeerResult } from './report/types.js';
import { withNewestOthers, writeOutputs } from './report/write.js';
import type { CompareResult } from './typeorm/compare.js';
import type { MemoryResult } from './typeorm/memory.js';
import type { ScaleResult } from './typeorm/scale.js';

// npm run bench [-- --quick] [--db sqlite|postgres] [--skip-peer] [--skip-scale] [--skip-process] [--out DIR] [--profile WORKLOAD]
// npm run bench:process [-- --quick] [--db ...] [--pairs N] [--node22] [--keys single|prepared|composite] [--profile WORKLOAD|all]   (= npm run bench -- --whole-process)
// Compiled to bench/.build/bench/run.js; the repository root is three levels up.
const root = path.resolve(__dirname, '../../..');
const built = path.join(root, 'bench/.build/bench');
const script = (name: string) => path.join(built, name);
const log = (message: string) => process.stderr.write(`${message}\n`);

/** Why the MikroORM peer cannot run here, or undefined. */
function peerUnavailable(): string | undefined {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  if (major < 22 || (major === 22 && minor < 17)) {
    return `MikroORM 7 needs Node >= 22.17 (this is ${process.version}); run the bench with Node 22 to include it`;
  }
  if (!existsSync(script('peer/mikro-orm.mjs'))) return 'bench/node_modules has no MikroORM (npm ci --prefix bench on Node >= 22.17 installs it)';
  return undefined;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  // The child processes (schema set-up, the tenant app) read the key mode from the environment.
  setBenchKeys(flags.keys);
  const started = Date.now();
  const loadStart = os.loadavg()[0]!;
  const machine = machineInfo(root);
  const common = flags.quick ? ['--quick'] : [];
  const pgAdmin = process.env.BENCH_PG_URL || defaultPgUrl;
  const reports: DatabaseReport[] = [];
  const processResults: WholeProcessResult[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  const runtime = flags.node22 ? ensureNode22(root) : currentNode();
  const date = machine.date.slice(0, 10);
  const defaultOut = flags.quick ? path.join(root, '.tmp/bench/quick-results') : path.join(root, 'bench/results');
  const out = path.resolve(flags.out ?? defaultOut);
  const readme = !flags.quick && !flags.out ? path.join(root, 'bench/README.md') : undefined;
  // Whole-process results are written after each database, so a failure later keeps what was measured.
  const saveProcessResults = () => {
    mkdirSync(out, { recursive: true });
    const major = runtime.version.slice(1).split('.')[0];
    const file = `${date}-whole-process-node${major}${runVariant(flags)}.json`;
    const totalS = Math.round((Date.now() - started) / 1000);
    // A run of one database keeps the other database's results of the same day (its own machine data).
    const kept = keptResults(path.join(out, file), processResults.map((r) => r.db));
    const run: WholeProcessRun = { machine, node: runtime.version, quick: flags.quick, durationS: flags.wholeProcess ? totalS : undefined, load: { start: loadStart, end: os.loadavg()[0]! }, results: [...kept, ...processResults] };
    writeFileSync(path.join(out, file), `${JSON.stringify(run, null, 2)}\n`);
    writeWholeProcessOutputs(out, readme);
    log(`\nwhole-process results: ${path.relative(root, out) || out}/${file}, whole-process.md${readme ? ', bench/README.md' : ''} (${totalS} s so far)`);
  };
  if (flags.node22 && !flags.wholeProcess) throw new Error('--node22 runs the whole-process mode only: add --whole-process (or use npm run bench:process -- --node22)');

  try {
    for (const db of flags.databases) {
      const dbStarted = Date.now();
      const report: DatabaseReport = { db, quick: flags.quick, machine, durationS: 0 };
      let target: string;
      if (db === 'sqlite') {
        target = path.join(os.tmpdir(), `tenancy_bench_${randomBytes(5).toString('hex')}.sqlite`);
        cleanups.push(async () => {
          for (const suffix of ['', '-wal', '-shm']) rmSync(target + suffix, { force: true });
        });
      } else {
        const problem = await unreachable(pgAdmin);
        if (problem) {
          log(`[postgres] skipped: ${pgAdmin} is unreachable (${problem}). Set BENCH_PG_URL.`);
          continue;
        }
        report.server = await serverVersion(pgAdmin);
        const database = await createBenchDatabase(pgAdmin);
        log(`[postgres] database ${database.name} on ${pgAdmin.replace(/\/\/[^@]*@/, '//')}`);
        target = database.url;
        cleanups.push(database.drop);
      }
      const args = ['--db', db, '--target', target, ...common];

      if (flags.wholeProcess) {
        const pgTarget = db === 'postgres' ? target : undefined;
        if (flags.profile) {
          const dir = path.join(root, '.tmp/bench/profiles/whole-process');
          log(`\n== ${db}: CPU and allocation profiles of both apps, ${flags.profile === 'all' ? 'every workload' : flags.profile} (${runtime.version})`);
          const dirs = await profileWholeProcess({ db, target: pgTarget, built, workload: flags.profile, dir, runtime });
          const summary = summarizeWholeProcessProfiles(db, runtime.version, dirs.plain, dirs.tenant);
          const file = path.join(root, '.tmp/bench/profiles', `whole-process-${db}.md`);
          writeFileSync(file, summary);
          log(`[${db}] profiles in ${path.relative(root, dir)}/${db}-{plain,tenant}/; summary: ${path.relative(root, file)}`);
        } else {
          log(`\n== ${db}: whole process (plain TypeORM app vs the tenant app, ${flags.pairs} alternating pairs, ${runtime.version})`);
          processResults.push(await runWholeProcess({ db, target: pgTarget, built, pairs: flags.pairs, quick: flags.quick, iterations: flags.iterations, pin: flags.pin, together: flags.together, youngMiB: flags.youngMiB, runtime }));
          saveProcessResults();
        }
        continue;
      }

      if (flags.profile) {
        // CPU profiles of (a) and (b) running one workload alone, then where (b) spends more.
        const dirs: string[] = [];
        for (const variant of ['a', 'b']) {
          const dir = path.join(root, '.tmp/bench/profiles', `${db}-${flags.profile}-${variant}`);
          rmSync(dir, { recursive: true, force: true });
          mkdirSync(dir, { recursive: true });
          await runChild<CompareResult>(script('typeorm/compare.js'), [...args, '--variant', variant, '--workload', flags.profile], ['--cpu-prof', '--cpu-prof-interval', '50', '--cpu-prof-dir', dir]);
          dirs.push(dir);
        }
        log(`\n[${db}] ${flags.profile}: profiles in ${path.relative(root, path.dirname(dirs[0]!))}\n${compareProfiles(dirs[0]!, dirs[1]!)}`);
        continue;
      }

      log(`\n== ${db}: (a) hand-written TypeORM vs (b) TenantEntityManager`);
      report.compare = await runChild<CompareResult>(script('typeorm/compare.js'), args);
      if (!flags.skipProcess) {
        // The whole-process mode: a plain app that never loads the library against the tenant app.
        log(`\n== ${db}: whole process (plain TypeORM app vs the tenant app, ${flags.pairs} alternating pairs)`);
        processResults.push(await runWholeProcess({ db, target: db === 'postgres' ? target : undefined, built, pairs: flags.pairs, quick: flags.quick, iterations: flags.iterations, pin: flags.pin, together: flags.together, youngMiB: flags.youngMiB, runtime }));
        saveProcessResults();
      }
      const peerProblem = peerUnavailable();
      if (!flags.skipPeer && peerProblem) {
        report.peerSkipped = peerProblem;
        log(`\n== ${db}: MikroORM peer skipped: ${peerProblem}`);
      } else if (!flags.skipPeer) {
        log(`\n== ${db}: MikroORM peer (separate process)`);
        try {
          report.peer = await runChild<PeerResult>(script('peer/mikro-orm.mjs'), args);
        } catch (error) {
          report.peerSkipped = String(error);
          log(`[${db}] MikroORM peer failed: ${String(error)}`);
        }
      } else {
        report.peerSkipped = '--skip-peer';
      }
      log(`\n== ${db}: memory`);
      report.memory = await runChild<MemoryResult>(script('typeorm/memory.js'), args, ['--expose-gc']);
      if (db === 'postgres') {
        if (flags.quick || flags.skipScale) {
          report.scaleSkipped = flags.quick ? 'quick run' : '--skip-scale';
        } else {
          log(`\n== postgres: scale (1,000,000 posts; 10 / 1,000 / 10,000 tenants)`);
          report.scale = await runChild<ScaleResult>(script('typeorm/scale.js'), args);
        }
      }
      report.durationS = Math.round((Date.now() - dbStarted) / 1000);
      reports.push(report);
    }
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => log(`cleanup failed: ${String(error)}`));
  }
  if (flags.profile) return;

  mkdirSync(out, { recursive: true });
  const totalS = Math.round((Date.now() - started) / 1000);
  if (reports.length === 0) return;
  for (const report of reports) {
    report.wholeRunS = totalS;
    writeFileSync(path.join(out, `${date}-${report.db}.json`), `${JSON.stringify(report, null, 2)}\n`);
  }
  // The full run with the default output also refreshes the table in bench/README.md.
  await writeOutputs(withNewestOthers(reports, out), out, totalS, readme);
  log(`\nresults: ${path.relative(root, out) || out}/ (${reports.map((r) => `${date}-${r.db}.json`).join(', ')}, latest.md, latest.svg) in ${totalS} s`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

/** The results of other databases in an earlier whole-process file of the same name (same day, Node, keys). */
function keptResults(file: string, measured: readonly string[]): WholeProcessRun['results'] {
  if (!existsSync(file)) return [];
  try {
    const earlier = JSON.parse(readFileSync(file, 'utf8')) as WholeProcessRun;
    return earlier.results.filter((r) => !measured.includes(r.db));
  } catch {
    return [];
  }
}
