import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { runChild } from './lib/child.js';
import { parseFlags } from './lib/cli.js';
import { machineInfo } from './lib/machine.js';
import { median, round } from './lib/stats.js';
import { createBenchDatabase, defaultPgUrl, serverVersion, unreachable } from './lib/postgres-admin.js';
import { compareProfiles } from './report/profile.js';
import type { DatabaseReport } from './report/types.js';
import { writeOutputs } from './report/write.js';
import type { PeerResult } from './peer/mikro-orm.mjs';
import type { CompareResult } from './typeorm/compare.js';
import type { MemoryResult } from './typeorm/memory.js';
import type { ScaleResult } from './typeorm/scale.js';

// npm run bench [-- --quick] [--db sqlite|postgres] [--skip-peer] [--skip-scale] [--out DIR] [--profile WORKLOAD]
// Compiled to .tmp/bench/bench/run.js; the repository root is three levels up.
const root = path.resolve(__dirname, '../../..');
const built = path.join(root, '.tmp/bench/bench');
const script = (name: string) => path.join(built, name);
const log = (message: string) => process.stderr.write(`${message}\n`);

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const started = Date.now();
  const machine = machineInfo(root);
  const common = flags.quick ? ['--quick'] : [];
  const pgAdmin = process.env.BENCH_PG_URL || defaultPgUrl;
  const reports: DatabaseReport[] = [];
  const cleanups: Array<() => Promise<void>> = [];

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
      if (!flags.quick && !flags.skipSolo) {
        // Each variant alone in its own process, alternating a b a b so drift of the database
        // falls on both; per workload the median of the per-run medians of both processes.
        log(`\n== ${db}: each variant alone in its own process (a, b, a, b)`);
        const runs = new Map<string, Map<string, number[]>>([['a', new Map()], ['b', new Map()]]);
        for (const variant of ['a', 'b', 'a', 'b']) {
          const alone = await runChild<CompareResult>(script('typeorm/compare.js'), [...args, '--variant', variant, '--half']);
          for (const w of alone.workloads) {
            const list = runs.get(variant)!.get(w.name) ?? [];
            list.push(...w.results[0]!.runMediansUs);
            runs.get(variant)!.set(w.name, list);
          }
        }
        report.solo = report.compare.workloads.map((w) => {
          const a = median(runs.get('a')!.get(w.name)!);
          const b = median(runs.get('b')!.get(w.name)!);
          return { name: w.name, a: { medianUs: round(a) }, b: { medianUs: round(b) }, ratioMedian: round(b / a, 3) };
        });
      }
      if (!flags.skipPeer) {
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
  if (flags.profile || reports.length === 0) return;

  const defaultOut = flags.quick ? path.join(root, '.tmp/bench/quick-results') : path.join(root, 'bench/results');
  const out = path.resolve(flags.out ?? defaultOut);
  mkdirSync(out, { recursive: true });
  const date = machine.date.slice(0, 10);
  const totalS = Math.round((Date.now() - started) / 1000);
  for (const report of reports) {
    report.wholeRunS = totalS;
    writeFileSync(path.join(out, `${date}-${report.db}.json`), `${JSON.stringify(report, null, 2)}\n`);
  }
  // The full run with the default output also refreshes the table in bench/README.md.
  await writeOutputs(reports, out, totalS, !flags.quick && !flags.out ? path.join(root, 'bench/README.md') : undefined);
  log(`\nresults: ${path.relative(root, out) || out}/ (${reports.map((r) => `${date}-${r.db}.json`).join(', ')}, latest.md, latest.svg) in ${totalS} s`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
