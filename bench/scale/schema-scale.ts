// Schema per tenant at scale (issue 16): provisioning time per tenant, point-read p50 at 10, 1,000 and
// 10,000 tenant schemas, migrateAll() over every schema, and the catalog's size, on PostgreSQL.
//   npm run bench:scale [-- --quick] [-- --sizes 10,1000,10000] [-- --out DIR]
// PG_BENCH_URL (or BENCH_PG_URL) is the server's admin URL; the run creates and drops its own database.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { Tenancy } from '../../src/index.js';
import { machineInfo } from '../lib/machine.js';
import { createBenchDatabase, serverVersion, unreachable } from '../lib/postgres-admin.js';
import { randomInt, seededRandom } from '../lib/prng.js';
import { mean, median, p95, round } from '../lib/stats.js';
import { renderScaleMarkdown } from './schema-scale-report.js';
import { defineScaleEntities } from './scale-entities.js';
import type { CatalogSize, LatencyStats, MigrateRun, ScaleResult, SizeResult } from './schema-scale-types.js';

const root = path.resolve(__dirname, '../../../..'); // bench/.build/bench/scale -> the repository
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const sizes = (flag('--sizes') ?? (quick ? '10,100,300' : '10,1000,10000')).split(',').map(Number);
const out = path.resolve(flag('--out') ?? (quick ? path.join(root, '.tmp/bench/quick-results') : path.join(root, 'bench/results')));
const adminUrl = withDatabase(process.env.PG_BENCH_URL ?? process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432', 'postgres');
const shape = quick ? { authors: 2, posts: 20 } : { authors: 5, posts: 100 };
const readPlan = quick ? { warmup: 50, runs: 5, iterations: 100 } : { warmup: 500, runs: 5, iterations: 1000 };
const migrateConcurrency = Number(flag('--concurrency') ?? 4);
const log = (message: string) => process.stderr.write(`[schema-scale] ${message}\n`);

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  if (u.pathname === '' || u.pathname === '/') u.pathname = `/${database}`;
  return u.toString();
}

function stats(valuesMs: number[]): LatencyStats {
  return { n: valuesMs.length, p50: round(median(valuesMs), 2), p95: round(p95(valuesMs), 2), mean: round(mean(valuesMs), 2) };
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

async function main(): Promise<void> {
  const why = await unreachable(adminUrl);
  if (why) {
    log(`PostgreSQL at ${adminUrl} is unreachable (${why}); set PG_BENCH_URL. Nothing run.`);
    process.exit(2);
  }
  const started = Date.now();
  const db = await createBenchDatabase(adminUrl);
  log(`database ${db.name}; sizes ${sizes.join(', ')}${quick ? ' (quick)' : ''}`);
  const result: ScaleResult = {
    kind: 'schema-scale',
    quick,
    machine: machineInfo(root),
    server: await serverVersion(adminUrl),
    settings: await serverSettings(db.url),
    shape: { authorsPerTenant: shape.authors, postsPerTenant: shape.posts },
    readPlan,
    sizes: [],
    migrate: [],
    wholeRunS: 0,
  };
  try {
    await run(db.url, result);
  } finally {
    await db.drop();
  }
  result.wholeRunS = Math.round((Date.now() - started) / 1000);
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'schema-scale.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(path.join(out, 'schema-scale.md'), renderScaleMarkdown(result));
  log(`wrote ${path.join(out, 'schema-scale.md')} (${result.wholeRunS} s)`);
}

function options(url: string, entities: DataSourceOptions['entities'], extra: Partial<DataSourceOptions> = {}): DataSourceOptions {
  return { type: 'postgres', url, entities, logging: false, ...extra } as DataSourceOptions;
}

async function run(url: string, result: ScaleResult): Promise<void> {
  const v1 = defineScaleEntities();
  // The application's DataSource: creates tenants (one transaction each, as tenants.create() does) and seeds them.
  const ds = new DataSource(options(url, v1.entities, { synchronize: true, extra: { max: 4 } }));
  const tenancy = new Tenancy(ds, { strategy: 'schema' });
  await ds.initialize();
  const ids: number[] = [];
  try {
    for (const size of sizes) {
      const provisioning = await provision(tenancy, v1, ids, size);
      const reads = await measureReads(url, ids);
      const catalog = await catalogSize(url);
      const entry: SizeResult = { tenants: size, provisioning, ...reads, catalog };
      result.sizes.push(entry);
      log(
        `${size} schemas: create p50 ${provisioning.createMs.p50} ms (last 100: ${provisioning.lastHundredMs.p50} ms); ` +
          `point read p50 ${reads.pointReadUs.p50} µs (first read in a connection ${reads.firstReadUs.p50} µs); ` +
          `pg_class ${catalog.pgClass}, database ${catalog.databaseMiB} MiB`,
      );
    }
    // migrateAll() with nothing to change (a check of every schema), then with a new column in posts.
    result.migrate.push(await migrate('no change (synchronize finds nothing to do)', tenancy, ids.length));
    const v2 = defineScaleEntities(true);
    const ds2 = new DataSource(options(url, v2.entities, { extra: { max: migrateConcurrency } }));
    const tenancy2 = new Tenancy(ds2, { strategy: 'schema' });
    await ds2.initialize();
    try {
      const run = await migrate('add a column to posts', tenancy2, ids.length);
      run.verified = await countSchemasWithSummary(url);
      result.migrate.push(run);
    } finally {
      await ds2.destroy();
    }
  } finally {
    await ds.destroy();
  }
}

/** Creates tenants (tenants.create(), one at a time: each takes the shared tables' lock) and seeds each one's rows. */
async function provision(tenancy: Tenancy, entities: ReturnType<typeof defineScaleEntities>, ids: number[], size: number): Promise<SizeResult['provisioning']> {
  const times: number[] = [];
  const seedTimes: number[] = [];
  const from = ids.length;
  const stepStarted = nowMs();
  let reported = nowMs();
  while (ids.length < size) {
    const t0 = nowMs();
    const tenant = (await tenancy.tenants.create({ name: `tenant ${ids.length + 1}` })) as { id: number };
    const t1 = nowMs();
    times.push(t1 - t0);
    await tenancy.manager(tenant).transaction(async (em) => {
      await em.insert(
        entities.Author,
        Array.from({ length: shape.authors }, (_, i) => ({ name: `author ${i + 1}` })),
      );
      await em.insert(
        entities.Post,
        Array.from({ length: shape.posts }, (_, i) => ({ title: `post ${i + 1} of ${tenant.id}`, views: i, authorId: (i % shape.authors) + 1 })),
      );
    });
    seedTimes.push(nowMs() - t1);
    ids.push(tenant.id);
    if (nowMs() - reported > 15_000) {
      reported = nowMs();
      const rate = (ids.length - from) / ((reported - stepStarted) / 1000);
      log(`  provisioned ${ids.length}/${size} (${rate.toFixed(1)} tenants/s, create p50 of the last 100 ${round(median(times.slice(-100)), 1)} ms)`);
    }
  }
  return {
    created: times.length,
    createMs: stats(times),
    lastHundredMs: stats(times.slice(-100)),
    seedMs: stats(seedTimes),
    stepS: round((nowMs() - stepStarted) / 1000, 1),
  };
}

/**
 * Point reads through a fresh DataSource with one connection (so one server backend sees every
 * read): first the first read of every tenant in that connection (its catalog caches are cold for
 * that schema), then warm-up and timed reads of a random post of a random tenant.
 */
async function measureReads(url: string, ids: number[]): Promise<Pick<SizeResult, 'firstReadUs' | 'pointReadUs' | 'runMediansUs' | 'backendCacheMiB'>> {
  const { Post, entities } = defineScaleEntities();
  const ds = new DataSource(options(url, entities, { extra: { max: 1 } }));
  const tenancy = new Tenancy(ds, { strategy: 'schema' });
  await ds.initialize();
  try {
    const random = seededRandom(ids.length);
    const read = async () => {
      const tenant = ids[randomInt(random, 0, ids.length - 1)]!;
      const t0 = process.hrtime.bigint();
      const post = await tenancy.manager(tenant).findOneBy(Post, { id: randomInt(random, 1, shape.posts) });
      const us = Number(process.hrtime.bigint() - t0) / 1000;
      if (!post) throw new Error(`tenant ${tenant}: post not found`);
      return us;
    };
    const first: number[] = [];
    for (const tenant of ids) {
      const t0 = process.hrtime.bigint();
      await tenancy.manager(tenant).findOneBy(Post, { id: 1 });
      first.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    for (let i = 0; i < readPlan.warmup; i++) await read();
    const all: number[] = [];
    const runMedians: number[] = [];
    for (let r = 0; r < readPlan.runs; r++) {
      const samples: number[] = [];
      for (let i = 0; i < readPlan.iterations; i++) samples.push(await read());
      all.push(...samples);
      runMedians.push(round(median(samples)));
    }
    // The one backend's catalog caches (relcache, catcache) after reading every schema.
    const [cache] = (await ds.query(
      `SELECT coalesce(sum(total_bytes), 0)::bigint AS bytes FROM pg_backend_memory_contexts WHERE name = 'CacheMemoryContext' OR parent = 'CacheMemoryContext'`,
    )) as Array<{ bytes: string }>;
    const us = (v: number[]) => {
      const s = stats(v);
      return { n: s.n, p50: round(s.p50), p95: round(s.p95), mean: round(s.mean) };
    };
    return { firstReadUs: us(first), pointReadUs: us(all), runMediansUs: runMedians, backendCacheMiB: round(Number(cache?.bytes ?? 0) / 2 ** 20, 1) };
  } finally {
    await ds.destroy();
  }
}

async function migrate(label: string, tenancy: Tenancy, total: number): Promise<MigrateRun> {
  const t0 = nowMs();
  let reported = t0;
  const times: number[] = [];
  let last = t0;
  const summary = await tenancy.migrateAll({
    concurrency: migrateConcurrency,
    onProgress: ({ done, total: all, ok }) => {
      const now = nowMs();
      times.push(now - last);
      last = now;
      if (!ok || done === all || now - reported > 10_000) {
        reported = now;
        const elapsed = (now - t0) / 1000;
        log(`  migrateAll (${label}): ${done}/${all} (${Math.round((100 * done) / all)}%) in ${elapsed.toFixed(0)} s, ETA ${((elapsed / done) * (all - done)).toFixed(0)} s`);
      }
    },
  });
  const totalS = round((nowMs() - t0) / 1000, 1);
  if (summary.failed.length) log(`  migrateAll (${label}): ${summary.failed.length} failed, first: ${String(summary.failed[0]!.error)}`);
  return {
    label,
    tenants: total,
    concurrency: migrateConcurrency,
    totalS,
    perTenantMs: round((totalS * 1000) / total, 1),
    succeeded: summary.succeeded.length,
    failed: summary.failed.length,
    firstError: summary.failed[0] ? String(summary.failed[0].error) : undefined,
    betweenProgressMs: stats(times),
  };
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function serverSettings(url: string): Promise<Record<string, string>> {
  return withClient(url, async (c) => {
    const names = ['max_locks_per_transaction', 'max_connections', 'shared_buffers', 'synchronous_commit'];
    const { rows } = await c.query<{ name: string; setting: string; unit: string | null }>(`SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1)`, [names]);
    return Object.fromEntries(rows.map((r) => [r.name, r.unit ? `${r.setting} × ${r.unit}` : r.setting]));
  });
}

async function catalogSize(url: string): Promise<CatalogSize> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<Record<string, string>>(`
      SELECT (SELECT count(*) FROM pg_class) AS pg_class,
             (SELECT count(*) FROM pg_attribute) AS pg_attribute,
             (SELECT count(*) FROM pg_namespace) AS pg_namespace,
             (SELECT count(*) FROM pg_constraint) AS pg_constraint,
             pg_total_relation_size('pg_catalog.pg_class') + pg_total_relation_size('pg_catalog.pg_attribute')
               + pg_total_relation_size('pg_catalog.pg_constraint') + pg_total_relation_size('pg_catalog.pg_depend')
               + pg_total_relation_size('pg_catalog.pg_type') + pg_total_relation_size('pg_catalog.pg_index') AS catalog_bytes,
             pg_database_size(current_database()) AS database_bytes`);
    const r = rows[0]!;
    const mib = (v: string | undefined) => round(Number(v) / 2 ** 20, 1);
    return {
      pgClass: Number(r.pg_class),
      pgAttribute: Number(r.pg_attribute),
      pgNamespace: Number(r.pg_namespace),
      pgConstraint: Number(r.pg_constraint),
      catalogMiB: mib(r.catalog_bytes),
      databaseMiB: mib(r.database_bytes),
    };
  });
}

async function countSchemasWithSummary(url: string): Promise<number> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_attribute a JOIN pg_class t ON t.oid = a.attrelid JOIN pg_namespace n ON n.oid = t.relnamespace
       WHERE t.relname = 'posts' AND a.attname = 'summary' AND NOT a.attisdropped AND n.nspname <> 'public'`,
    );
    return Number(rows[0]!.n);
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
