import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pinnedCpu, runChild, simultaneousCpus } from '../lib/child.js';
import { processPlan } from '../lib/cli.js';
import type { NodeRuntime } from '../lib/node22.js';
import type { DbKind } from '../lib/shape.js';
import { benchKeys, type BenchKeys } from '../lib/keys.js';
import { median, round } from '../lib/stats.js';
import { workloadLabels, type WorkloadName } from '../lib/workloads.js';
import type { AppResult, Side } from './app.js';

/** Per workload: each side's per-process medians, their median, the ratio tenant / plain. */
export interface WholeProcessWorkload {
  name: WorkloadName;
  label: string;
  plain: { processMediansUs: number[]; medianUs: number; p95Us: number };
  tenant: { processMediansUs: number[]; medianUs: number; p95Us: number };
  /** median of the tenant's process medians / median of the plain app's. */
  ratio: number;
  /** The same for the process's CPU time per operation (median over processes). */
  cpu: { plainUs: number; tenantUs: number; ratio: number };
  /** Range of the per-pair ratios (tenant process median / plain process median of the same pair). */
  pairRatioMin: number;
  pairRatioMax: number;
  statements: { plain: number; tenant: number; plainDriver: number; tenantDriver: number };
  /** V8's new space at the end of the timed loop, MiB, median over each side's processes (absent in older runs). */
  newSpaceMiB?: { plain: number; tenant: number };
}

export interface WholeProcessResult {
  kind: 'whole-process';
  db: DbKind;
  /** The schema's tenant-aware keys (absent in runs before --keys: single). */
  keys?: BenchKeys;
  node: string;
  pairs: number;
  plan: { warmup: number; iterations: number; txIterations: number };
  /** The CPU every app process was pinned to (taskset), if any. */
  pinnedCpu?: number;
  /** The two processes of each pair ran at the same time, on CPUs 0 and 1, swapped every pair (--together). */
  together?: boolean;
  /** Each semi-space of V8's young generation fixed at this many MiB in both apps (--young-mib); absent: V8's default sizing. */
  youngMiB?: number;
  workloads: WholeProcessWorkload[];
  /** What each side had loaded / switched on (from the last process of each). */
  plain: { libraryModules: number; promiseHooks: boolean; heapUsedMiB: number };
  tenant: { libraryModules: number; promiseHooks: boolean; heapUsedMiB: number };
  durationS: number;
}

const log = (message: string) => process.stderr.write(`${message}\n`);

/**
 * The whole-process comparison on one database: a plain TypeORM app that never loads the library
 * and the same app through tenancy.manager(t), each in its own process, alternating pairs
 * (plain, tenant), (tenant, plain), ... so drift of the machine and the database falls on both.
 */
export async function runWholeProcess(options: {
  db: DbKind;
  /** PostgreSQL: the benchmark database's url (created by the caller); SQLite: unused (databases in memory). */
  target: string | undefined;
  built: string;
  pairs: number;
  quick: boolean;
  /** --iterations: timed operations per workload and process (default: processPlan's). */
  iterations?: number | undefined;
  /** Pin the app processes to one CPU (default true; --no-pin). */
  pin?: boolean;
  /** --together (SQLite): run the two processes of a pair at the same time, each on its own CPU. */
  together?: boolean;
  /** --young-mib: fix V8's semi-spaces at this many MiB in both apps. */
  youngMiB?: number | undefined;
  runtime: NodeRuntime;
}): Promise<WholeProcessResult> {
  const { db, built, pairs, runtime } = options;
  // PostgreSQL's server would serve both apps at once (and share their cores): sequential there.
  const together = options.together === true && db === 'sqlite';
  const started = Date.now();
  const script = (name: string) => path.join(built, 'process', name);
  const cpu = pinnedCpu(options.pin ?? true);
  // The same V8 flags on both sides (none by default).
  const nodeFlags = options.youngMiB ? [`--min-semi-space-size=${options.youngMiB}`, `--max-semi-space-size=${options.youngMiB}`] : [];
  const tmp = path.join(os.tmpdir(), `tenancy-bench-process-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  try {
    let target: string;
    if (db === 'sqlite') {
      const ddl = await runChild<string[]>(script('setup.js'), ['--db', 'sqlite']);
      target = path.join(tmp, 'ddl.json');
      writeFileSync(target, JSON.stringify(ddl));
    } else {
      target = options.target!;
      await runChild(script('setup.js'), ['--db', 'postgres', '--target', target]);
    }
    const args = ['--db', db, '--target', target, ...(options.quick ? ['--quick'] : []), ...(options.iterations ? ['--iterations', String(options.iterations)] : [])];
    // The reads must answer alike. SQLite: every process has its own copy, compared below. PostgreSQL:
    // the apps write to the one database, so both answer first, before any process has written.
    const answers = new Set<string>();
    if (db === 'postgres') {
      for (const side of ['plain', 'tenant'] as const) answers.add((await runChild<AppResult>(script(`${side}-app.js`), [...args, '--workload', 'none'], nodeFlags, runtime, cpu)).answersDigest);
    }
    const results: Record<Side, AppResult[]> = { plain: [], tenant: [] };
    const cpus = together ? simultaneousCpus() : undefined;
    for (let pair = 0; pair < pairs; pair++) {
      const order: Side[] = pair % 2 === 0 ? ['plain', 'tenant'] : ['tenant', 'plain'];
      if (cpus) {
        // Both at once, each on a CPU of its own, the CPUs swapped every pair: a drift of the machine's
        // speed falls on both sides alike, and neither side keeps the faster core.
        await Promise.all(order.map(async (side, k) => {
          results[side][pair] = await runChild<AppResult>(script(`${side}-app.js`), args, nodeFlags, runtime, cpus[k]);
        }));
        continue;
      }
      for (const side of order) {
        results[side][pair] = await runChild<AppResult>(script(`${side}-app.js`), args, nodeFlags, runtime, cpu);
      }
    }

    const [plainRuns, tenantRuns] = [results.plain, results.tenant];
    const leaked = plainRuns.flatMap((r) => r.libraryModules);
    if (leaked.length) throw new Error(`the plain app loaded the library: ${[...new Set(leaked)].slice(0, 5).join(', ')}`);
    const digests = db === 'postgres' ? answers : new Set([...plainRuns, ...tenantRuns].map((r) => r.answersDigest));
    if (digests.size !== 1) throw new Error(`the plain and the tenant app answered the reads differently (${digests.size} distinct answer digests)`);

    const workloads: WholeProcessWorkload[] = plainRuns[0]!.workloads.map((first, k) => {
      const name = first.name;
      const plain = plainRuns.map((r) => r.workloads[k]!);
      const tenant = tenantRuns.map((r) => r.workloads[k]!);
      const statementSet = (list: typeof plain, key: 'statements' | 'driverStatements') => {
        const values = new Set(list.map((w) => w[key]));
        if (values.size !== 1) log(`[${db}] ${name}: ${key} differ between processes of one side: ${[...values].join(', ')}`);
        return list[0]![key];
      };
      const [pm, tm] = [plain.map((w) => w.medianUs), tenant.map((w) => w.medianUs)];
      const pairRatios = tm.map((t, i) => t / pm[i]!);
      return {
        name,
        label: workloadLabels[name],
        plain: { processMediansUs: pm, medianUs: round(median(pm), 2), p95Us: round(median(plain.map((w) => w.p95Us)), 2) },
        tenant: { processMediansUs: tm, medianUs: round(median(tm), 2), p95Us: round(median(tenant.map((w) => w.p95Us)), 2) },
        ratio: round(median(tm) / median(pm), 3),
        cpu: { plainUs: round(median(plain.map((w) => w.cpuUs)), 2), tenantUs: round(median(tenant.map((w) => w.cpuUs)), 2), ratio: round(median(tenant.map((w) => w.cpuUs)) / median(plain.map((w) => w.cpuUs)), 3) },
        pairRatioMin: round(Math.min(...pairRatios), 3),
        pairRatioMax: round(Math.max(...pairRatios), 3),
        statements: {
          plain: statementSet(plain, 'statements'),
          tenant: statementSet(tenant, 'statements'),
          plainDriver: statementSet(plain, 'driverStatements'),
          tenantDriver: statementSet(tenant, 'driverStatements'),
        },
        ...(plain.every((w) => w.newSpaceMiB !== undefined) && tenant.every((w) => w.newSpaceMiB !== undefined)
          ? { newSpaceMiB: { plain: round(median(plain.map((w) => w.newSpaceMiB!)), 1), tenant: round(median(tenant.map((w) => w.newSpaceMiB!)), 1) } }
          : {}),
      };
    });
    const state = (r: AppResult) => ({ libraryModules: r.libraryModules.length, promiseHooks: r.promiseHooks, heapUsedMiB: r.heapUsedMiB });
    const result: WholeProcessResult = {
      kind: 'whole-process',
      db,
      keys: benchKeys(),
      node: plainRuns[0]!.node,
      pairs,
      plan: processPlan(options.quick, options.iterations),
      ...(cpu === undefined || together ? {} : { pinnedCpu: cpu }),
      ...(together ? { together: true } : {}),
      ...(options.youngMiB ? { youngMiB: options.youngMiB } : {}),
      workloads,
      plain: state(plainRuns.at(-1)!),
      tenant: state(tenantRuns.at(-1)!),
      durationS: round((Date.now() - started) / 1000),
    };
    log(`\n[${db}] whole process, ${result.keys} keys, ${result.node}${result.youngMiB ? `, young generation fixed (semi-spaces ${result.youngMiB} MiB)` : ''}, ${pairs} pairs (tenant / plain, median of process medians):`);
    for (const w of workloads) {
      log(
        `  ${w.label.padEnd(50)} plain ${w.plain.medianUs.toFixed(1).padStart(8)} µs  tenant ${w.tenant.medianUs.toFixed(1).padStart(8)} µs  ×${w.ratio.toFixed(3)} ` +
          `(pairs ${w.pairRatioMin.toFixed(2)}–${w.pairRatioMax.toFixed(2)})  CPU ×${w.cpu.ratio.toFixed(3)}  statements ${w.statements.plain}/${w.statements.tenant}` +
          (w.newSpaceMiB ? `  new space ${w.newSpaceMiB.plain}/${w.newSpaceMiB.tenant} MiB` : ''),
      );
    }
    log(`  plain app: library modules ${result.plain.libraryModules}, promise hooks ${result.plain.promiseHooks ? 'on' : 'off'}; tenant app: promise hooks ${result.tenant.promiseHooks ? 'on' : 'off'}`);
    return result;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** CPU and allocation profiles of both apps running each workload (or one), into dir/<db>-<side>/. */
export async function profileWholeProcess(options: {
  db: DbKind;
  target: string | undefined;
  built: string;
  workload: string;
  dir: string;
  runtime: NodeRuntime;
}): Promise<Record<Side, string>> {
  const { db, built, runtime } = options;
  const script = (name: string) => path.join(built, 'process', name);
  const tmp = path.join(os.tmpdir(), `tenancy-bench-profile-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  try {
    let target = options.target!;
    if (db === 'sqlite') {
      target = path.join(tmp, 'ddl.json');
      writeFileSync(target, JSON.stringify(await runChild<string[]>(script('setup.js'), ['--db', 'sqlite'])));
    } else {
      await runChild(script('setup.js'), ['--db', 'postgres', '--target', target]);
    }
    const dirs = {} as Record<Side, string>;
    for (const side of ['plain', 'tenant'] as const) {
      const dir = path.join(options.dir, `${db}-${side}`);
      rmSync(dir, { recursive: true, force: true });
      await runChild<AppResult>(script(`${side}-app.js`), ['--db', db, '--target', target, '--workload', options.workload, '--profile-dir', dir], [], runtime);
      dirs[side] = dir;
    }
    return dirs;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
