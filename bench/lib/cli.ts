import { type BenchKeys, benchKeyModes } from './keys.js';

/** Flags shared by the orchestrator (run.ts) and its child processes. */
export interface BenchFlags {
  quick: boolean;
  /** --db sqlite|postgres (repeatable); default both. */
  databases: Array<'sqlite' | 'postgres'>;
  skipPeer: boolean;
  skipScale: boolean;
  /** --skip-process: no whole-process comparison in the full run. */
  skipProcess: boolean;
  /** --out DIR: where results go (default bench/results, or .tmp/bench/quick-results with --quick). */
  out: string | undefined;
  /** --profile WORKLOAD: write V8 CPU profiles of (a) and (b) running that workload alone. */
  profile: string | undefined;
  /** Child processes: where to write their JSON result. */
  result: string | undefined;
  /** Child processes: the database location (sqlite file or postgres url). */
  target: string | undefined;
  /** Child processes: only run this variant / workload (profiling). */
  variant: string | undefined;
  workload: string | undefined;
  /** Child processes: half the runs (the separate-process runs, two processes per variant). */
  half: boolean;
  /** --whole-process: only the whole-process mode (a plain app that never loads the library against the tenant app). */
  wholeProcess: boolean;
  /** --pairs N: whole-process pairs (plain, tenant), alternating; default 5. */
  pairs: number;
  /** --iterations N: whole-process timed operations per workload and process (as many warm-up first; a quarter for transactions); default 3,000 after 2,000. */
  iterations: number | undefined;
  /** --no-pin: do not pin the whole-process apps to one CPU (they are pinned with taskset where it exists). */
  pin: boolean;
  /** --together: SQLite's whole-process pairs run both processes at once, each on its own CPU. */
  together: boolean;
  /** --node22: run the whole-process apps on Node 22 (installed from the npm registry into bench/.node22). */
  node22: boolean;
  /** Whole-process children: write V8 CPU and allocation profiles per workload into this folder instead of timing. */
  profileDir: string | undefined;
  /** --keys single|prepared|unnamed|composite: the schema's tenant-aware keys (compositeKeys: true for composite; preparedReferenceChecks: true for prepared, false for unnamed); default single (the library's defaults). */
  keys: BenchKeys;
  /**
   * --young-mib N: both whole-process apps run with V8's young generation fixed (each semi-space N MiB:
   * --min-semi-space-size = --max-semi-space-size = N), so neither side's timing depends on when V8 grows it.
   */
  youngMiB: number | undefined;
}

export function parseFlags(argv: readonly string[]): BenchFlags {
  const flags: BenchFlags = {
    quick: false,
    databases: [],
    skipPeer: false,
    skipScale: false,
    skipProcess: false,
    out: undefined,
    profile: undefined,
    result: undefined,
    target: undefined,
    variant: undefined,
    workload: undefined,
    half: false,
    wholeProcess: false,
    pairs: 5,
    iterations: undefined,
    pin: true,
    together: false,
    node22: false,
    profileDir: undefined,
    keys: 'single',
    youngMiB: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--quick': flags.quick = true; break;
      case '--db': {
        const db = value();
        if (db !== 'sqlite' && db !== 'postgres') throw new Error(`--db sqlite|postgres, not ${db}`);
        flags.databases.push(db);
        break;
      }
      case '--skip-peer': flags.skipPeer = true; break;
      case '--skip-scale': flags.skipScale = true; break;
      case '--skip-process': flags.skipProcess = true; break;
      case '--out': flags.out = value(); break;
      case '--profile': flags.profile = value(); break;
      case '--result': flags.result = value(); break;
      case '--target': flags.target = value(); break;
      case '--variant': flags.variant = value(); break;
      case '--workload': flags.workload = value(); break;
      case '--half': flags.half = true; break;
      case '--whole-process': flags.wholeProcess = true; break;
      case '--pairs': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 1) throw new Error('--pairs needs a whole number >= 1');
        flags.pairs = n;
        break;
      }
      case '--iterations': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 10) throw new Error('--iterations needs a whole number >= 10');
        flags.iterations = n;
        break;
      }
      case '--no-pin': flags.pin = false; break;
      case '--together': flags.together = true; break;
      case '--node22': flags.node22 = true; break;
      case '--keys': {
        const keys = value();
        const mode = benchKeyModes.find((m) => m === keys);
        if (!mode) throw new Error(`--keys ${benchKeyModes.join('|')}, not ${keys}`);
        flags.keys = mode;
        break;
      }
      case '--young-mib': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error('--young-mib needs a whole number of MiB from 1 to 256');
        flags.youngMiB = n;
        break;
      }
      case '--profile-dir': flags.profileDir = value(); break;
      default: throw new Error(`unknown flag ${arg} (see bench/README.md)`);
    }
  }
  if (flags.databases.length === 0) flags.databases = ['sqlite', 'postgres'];
  return flags;
}

/** Sampling sizes: the full run and the smoke run (--quick). */
export function plans(quick: boolean) {
  return quick
    ? { warmup: 20, runs: 5, iterations: 20, memoryManagers: 10_000, memoryBuilders: 2_000, scaleSizes: [] as number[] }
    : { warmup: 300, runs: 10, iterations: 300, memoryManagers: 100_000, memoryBuilders: 10_000, scaleSizes: [10, 1_000, 10_000] };
}

/** Sampling sizes of the whole-process mode, per process: warm-up, then timed operations (fewer for transactions). */
export function processPlan(quick: boolean, iterations?: number) {
  // Longer runs (--iterations) let V8 finish tiering up before the timing starts.
  if (iterations !== undefined) return { warmup: iterations, iterations, txIterations: Math.ceil(iterations / 4) };
  // Thousands of warm-up operations: with a few hundred V8 was still tiering TypeORM's code up, and
  // a single update measured 77 µs where the steady state is 30 µs.
  return quick ? { warmup: 20, iterations: 100, txIterations: 30 } : { warmup: 2_000, iterations: 3_000, txIterations: 750 };
}
