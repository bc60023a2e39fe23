import { createHash } from 'node:crypto';
import { createHook, executionAsyncId } from 'node:async_hooks';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import { getHeapSpaceStatistics } from 'node:v8';
import type { DataSource, DataSourceOptions } from 'typeorm';
import { CaptureLogger } from '../lib/capture-logger.js';
import { parseFlags, processPlan } from '../lib/cli.js';
import type { BenchEntities } from '../lib/entities.js';
import { restoreSeededRows, seed } from '../lib/seed-sql.js';
import { type DbKind, mainShape } from '../lib/shape.js';
import { median, mean, p95, round } from '../lib/stats.js';
import { inputStream, type WorkloadName, workloadNames, type Workloads } from '../lib/workloads.js';

// One app of the whole-process mode: a process that connects, runs every workload (warm-up, then
// each operation timed alone) and writes a JSON result. plain-app.ts runs it without the library
// (and this file and everything it imports never load it), tenant-app.ts through tenancy.manager(t).
// SQLite: a database in memory per process, built from the DDL the library's synchronize made
// (setup.ts) and seeded here; PostgreSQL: the database setup.ts seeded, shared.

export type Side = 'plain' | 'tenant';

export interface AppDefinition {
  side: Side;
  entities: BenchEntities;
  /** Creates and initializes the DataSource (with a Tenancy for the tenant side) and the workloads over it. */
  open(options: DataSourceOptions): Promise<{ dataSource: DataSource; ops: Workloads }>;
}

export interface AppWorkloadResult {
  name: WorkloadName;
  n: number;
  medianUs: number;
  p95Us: number;
  meanUs: number;
  /** CPU time of this process (user + system) per operation over the timed loop: less sensitive to other load on the machine than latency. */
  cpuUs: number;
  /** Statements of one operation as TypeORM's logger sees them (BEGIN/COMMIT included). */
  statements: number;
  /** The same counted at the driver: better-sqlite3's verbose callback, pg client.query calls. */
  driverStatements: number;
  /**
   * V8's new space (young generation) at the end of the timed loop, MiB. V8 starts it small and grows
   * it under allocation; a point read on SQLite measured twice as slow in a process whose new space had
   * not grown (on either side), so the report shows it beside the timings.
   */
  newSpaceMiB?: number;
}

export interface AppResult {
  kind: 'process-app';
  side: Side;
  db: DbKind;
  node: string;
  workloads: AppWorkloadResult[];
  /** sha256 of the answers to the reads on a fixed input stream: both sides must match. */
  answersDigest: string;
  /** Files of the library (compiled src/, dist/, node_modules/typeorm-tenancy) in require.cache at the end. */
  libraryModules: string[];
  /** Whether promise hooks (async_hooks, installed by AsyncLocalStorage) were on at the end. */
  promiseHooks: boolean;
  /** Heap used after the run, MiB (no forced GC). */
  heapUsedMiB: number;
  durationS: number;
}

const log = (message: string) => process.stderr.write(`${message}\n`);

const newSpaceMiB = () => round((getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0) / 2 ** 20, 1);

/** True when promise hooks are on: then every promise gets an async id of its own. */
async function promiseHooksActive(): Promise<boolean> {
  const a = await Promise.resolve().then(() => executionAsyncId());
  const b = await Promise.resolve().then(() => executionAsyncId());
  return a !== b;
}

/** The library's files among the loaded modules (compiled with the bench into bench/.build/src, built in dist/, or installed). */
function loadedLibraryModules(): string[] {
  const build = path.resolve(__dirname, '../..'); // bench/.build
  const root = path.resolve(build, '../..');
  const markers = [path.join(build, 'src') + path.sep, path.join(root, 'dist') + path.sep, `${path.sep}typeorm-tenancy${path.sep}`];
  return Object.keys(require.cache).filter((file) => markers.some((m) => file.includes(m)));
}

/** pg as TypeORM loads it, with every client's query counted (an instance property per connection, the same on both sides). */
function countingPg(count: () => void): unknown {
  const fromTypeorm = createRequire(require.resolve('typeorm'));
  const pg = fromTypeorm('pg') as { Pool: new (options: unknown) => { on(event: 'connect', fn: (client: { query: (...args: unknown[]) => unknown }) => void): void } };
  class CountingPool extends pg.Pool {
    constructor(options: unknown) {
      super(options);
      this.on('connect', (client) => {
        const query = client.query;
        client.query = function (this: unknown, ...args: unknown[]) {
          count();
          return query.apply(this, args);
        };
      });
    }
  }
  return Object.assign(Object.create(pg) as object, { Pool: CountingPool });
}

const normalize = (value: unknown) => JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));

export async function runApp(app: AppDefinition): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const db = flags.databases[0]!;
  const plan = processPlan(flags.quick, flags.iterations);
  const started = Date.now();
  const logger = new CaptureLogger();
  const driver = { count: 0 };
  const countDriver = () => void driver.count++;
  const common = { entities: app.entities.entities, logger, synchronize: false } as const;
  const options: DataSourceOptions =
    db === 'sqlite'
      ? {
          type: 'better-sqlite3',
          database: ':memory:',
          verbose: countDriver,
          // A better-sqlite3 binary built for another Node (--node22), when given.
          ...(process.env.BENCH_SQLITE_BINDING ? { nativeBinding: process.env.BENCH_SQLITE_BINDING } : {}),
          ...common,
        }
      : { type: 'postgres', url: flags.target!, driver: countingPg(countDriver), ...common };
  const { dataSource, ops } = await app.open(options);

  if (db === 'sqlite') {
    const ddl = JSON.parse(readFileSync(flags.target!, 'utf8')) as string[];
    const runner = dataSource.createQueryRunner();
    for (const statement of ddl) await runner.query(statement);
    await runner.release();
    await seed(dataSource, 'sqlite', mainShape);
  } else if (flags.workload !== 'none') {
    await restoreSeededRows(dataSource, mainShape);
  }

  // The same answers on both sides (compared by the orchestrator).
  const hash = createHash('sha256');
  const check = inputStream('check', mainShape, 7);
  for (let n = 0; n < 5; n++) {
    const input = check();
    for (const workload of ['pointRead', 'list20Join', 'list50Join', 'count'] as const) hash.update(normalize(await ops[workload](input)));
  }

  // --workload none: the answers only (PostgreSQL: before any process writes to the shared database).
  const names = flags.workload === 'none' ? [] : flags.workload && flags.workload !== 'all' ? workloadNames.filter((w) => w === flags.workload) : workloadNames;
  if (flags.workload && flags.workload !== 'all' && flags.workload !== 'none' && names.length === 0) throw new Error(`unknown workload ${flags.workload}: ${workloadNames.join(', ')}`);
  const session = flags.profileDir ? new Session() : undefined;
  if (session) {
    mkdirSync(flags.profileDir!, { recursive: true });
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 50 });
    await session.post('HeapProfiler.enable');
  }

  const workloads: AppWorkloadResult[] = [];
  for (const name of names) {
    const run = ops[name];
    const probe = inputStream(`${name}-probe`, mainShape, 11)();
    // Counted after a first operation: first-use work (the library asks the database once per table
    // before its first write) is not per operation.
    await run(inputStream(`${name}-first`, mainShape, 13)());
    const [before, driverBefore] = [logger.count, driver.count];
    await run(probe);
    const statements = logger.count - before;
    const driverStatements = driver.count - driverBefore;

    const isTx = name.startsWith('transaction');
    const iterations = isTx ? plan.txIterations : plan.iterations;
    const next = inputStream(name, mainShape);
    for (let i = 0; i < plan.warmup; i++) await run(next());

    if (session) {
      // Profiles instead of timings: CPU (50 µs sampling), then sampled allocations including what GC collected.
      await session.post('Profiler.start');
      for (let i = 0; i < iterations; i++) await run(next());
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(path.join(flags.profileDir!, `${name}.cpuprofile`), JSON.stringify(profile));
      await session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      for (let i = 0; i < iterations; i++) await run(next());
      const { profile: heap } = await session.post('HeapProfiler.stopSampling');
      writeFileSync(path.join(flags.profileDir!, `${name}.heapprofile`), JSON.stringify(heap));
      // Promises per operation (each pays the promise hooks once AsyncLocalStorage has run): counted
      // with an init hook, which itself turns the hooks on, so only here.
      let promises = 0;
      const hook = createHook({ init: (_id, type) => void (type === 'PROMISE' && promises++) }).enable();
      const counted = Math.ceil(iterations / 10);
      for (let i = 0; i < counted; i++) await run(next());
      hook.disable();
      writeFileSync(path.join(flags.profileDir!, `${name}.promises.json`), JSON.stringify({ perOperation: promises / counted }));
      workloads.push({ name, n: iterations, medianUs: 0, p95Us: 0, meanUs: 0, cpuUs: 0, statements, driverStatements, newSpaceMiB: newSpaceMiB() });
      continue;
    }

    const samples: number[] = new Array(iterations);
    const cpuBefore = process.cpuUsage();
    for (let i = 0; i < iterations; i++) {
      const input = next();
      const start = process.hrtime.bigint();
      await run(input);
      samples[i] = Number(process.hrtime.bigint() - start) / 1_000;
    }
    const cpu = process.cpuUsage(cpuBefore);
    workloads.push({
      name,
      n: iterations,
      medianUs: round(median(samples), 2),
      p95Us: round(p95(samples), 2),
      meanUs: round(mean(samples), 2),
      cpuUs: round((cpu.user + cpu.system) / iterations, 2),
      newSpaceMiB: newSpaceMiB(),
      statements,
      driverStatements,
    });
  }
  session?.disconnect();

  const result: AppResult = {
    kind: 'process-app',
    side: app.side,
    db,
    node: process.version,
    workloads,
    answersDigest: hash.digest('hex'),
    libraryModules: loadedLibraryModules(),
    promiseHooks: await promiseHooksActive(),
    heapUsedMiB: round(process.memoryUsage().heapUsed / 2 ** 20),
    durationS: round((Date.now() - started) / 1000),
  };
  await dataSource.destroy();
  log(
    `  ${app.side.padEnd(6)} ${process.version} ${result.durationS.toFixed(1)} s: ` +
      workloads.map((w) => `${w.name} ${w.medianUs.toFixed(0)}`).join(' ') +
      ` µs; library modules ${result.libraryModules.length}; promise hooks ${result.promiseHooks ? 'on' : 'off'}`,
  );
  if (flags.result) writeFileSync(flags.result, JSON.stringify(result, null, 2));
}

export function main(app: AppDefinition): void {
  runApp(app).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
