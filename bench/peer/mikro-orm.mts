import { writeFileSync } from 'node:fs';
import { ReflectMetadataProvider } from '@mikro-orm/decorators/legacy';
import { MikroORM as PostgresMikroORM } from '@mikro-orm/postgresql';
import { MikroORM as SqlMikroORM, type SqlEntityManager } from '@mikro-orm/sql';
import { parseFlags, plans } from '../lib/cli.js';
import { sampleInterleaved, summarize } from '../lib/sampler.js';
import { mainShape } from '../lib/shape.js';
import { round } from '../lib/stats.js';
import { inputStream, type PeerWorkloadName, peerWorkloadNames, type WorkloadInput, workloadLabels } from '../lib/workloads.js';

type Workloads = Record<PeerWorkloadName, (input: WorkloadInput) => Promise<unknown>>;
import type { PeerResult } from '../report/types.js';
import type { CompareResult, VariantSummary } from '../typeorm/compare.js';
import { PlainAuthor, PlainPost, TenantAuthor, TenantPost } from './entities.mjs';
import { BetterSqlite3Driver } from './sqlite-driver.mjs';

// The peer: MikroORM 7 in its own process, on the same database and data the TypeORM run seeded,
// the same workloads and inputs, (a) hand-written tenant_id against (b) its tenant @Filter.

const log = (message: string) => process.stderr.write(`${message}\n`);

const flags = parseFlags(process.argv.slice(2));
const db = flags.databases[0]!;
const target = flags.target!;
const plan = plans(flags.quick);
const started = Date.now();

// Every statement passes through onQuery: counted always (the same for both), kept while capturing.
const sent = { count: 0, capturing: false, queries: [] as string[] };
const onQuery = (sql: string) => {
  sent.count++;
  if (sent.capturing) sent.queries.push(sql);
  return sql;
};

async function init(entities: Function[]) {
  const common = { entities, metadataProvider: ReflectMetadataProvider, onQuery, ensureDatabase: false, debug: false } as const;
  return db === 'postgres'
    ? PostgresMikroORM.init({ ...common, clientUrl: target })
    : SqlMikroORM.init({ ...common, driver: BetterSqlite3Driver, dbName: target });
}

const plainOrm = await init([PlainAuthor, PlainPost]);
const tenantOrm = await init([TenantAuthor, TenantPost]);
const plainEm = () => plainOrm.em.fork() as SqlEntityManager;
const tenantEm = (tenantId: number) => {
  const em = tenantOrm.em.fork() as SqlEntityManager;
  em.setFilterParams('tenant', { tenantId });
  return em;
};
const title = (kind: string, input: WorkloadInput, k = 0) => `${kind} ${input.seq}.${k}`;

// (a) a fork per operation (MikroORM's unit of work is per request), tenant_id written by hand.
const handWritten: Workloads = {
  pointRead: (i) => plainEm().findOne(PlainPost, { id: i.postId, tenantId: i.tenantId }),
  list50Join: (i) =>
    plainEm().find(PlainPost, { tenantId: i.tenantId, author: { tenantId: i.tenantId } }, { populate: ['author'], orderBy: { id: 'asc' }, limit: 50 }),
  count: (i) => plainEm().count(PlainPost, { tenantId: i.tenantId }),
  insert: (i) => plainEm().insert(PlainPost, { title: title('new', i), views: 0, author: i.authorId, tenantId: i.tenantId }),
  updateById: (i) => plainEm().nativeUpdate(PlainPost, { id: i.postId, tenantId: i.tenantId }, { title: title('updated', i) }),
  transaction10: (i) =>
    plainEm().transactional(async (tx) => {
      for (const [k, id] of i.txPostIds.entries()) {
        await tx.insert(PlainPost, { title: title('tx', i, k), views: 0, author: i.authorId, tenantId: i.tenantId });
        await tx.nativeUpdate(PlainPost, { id, tenantId: i.tenantId }, { title: title('tx', i, k) });
      }
    }),
};

// (b) a fork per operation with the tenant filter's parameter set. Filters do not apply to
// inserts: the tenant is still written by hand there.
const filtered: Workloads = {
  pointRead: (i) => tenantEm(i.tenantId).findOne(TenantPost, { id: i.postId }),
  list50Join: (i) => tenantEm(i.tenantId).find(TenantPost, {}, { populate: ['author'], orderBy: { id: 'asc' }, limit: 50 }),
  count: (i) => tenantEm(i.tenantId).count(TenantPost),
  insert: (i) => tenantEm(i.tenantId).insert(TenantPost, { title: title('new', i), views: 0, author: i.authorId, tenantId: i.tenantId }),
  updateById: (i) => tenantEm(i.tenantId).nativeUpdate(TenantPost, { id: i.postId }, { title: title('updated', i) }),
  transaction10: (i) =>
    tenantEm(i.tenantId).transactional(async (tx) => {
      for (const [k, id] of i.txPostIds.entries()) {
        await tx.insert(TenantPost, { title: title('tx', i, k), views: 0, author: i.authorId, tenantId: i.tenantId });
        await tx.nativeUpdate(TenantPost, { id }, { title: title('tx', i, k) });
      }
    }),
};

const variants = [
  { key: 'a', label: 'MikroORM, tenant_id by hand', description: 'em.fork() per operation; every where names tenant_id', ops: handWritten },
  { key: 'b', label: 'MikroORM @Filter', description: "em.fork() + setFilterParams('tenant', { tenantId }) per operation", ops: filtered },
];

// Same answers first.
const normalize = (value: unknown) => JSON.stringify(value);
const check = inputStream('check', mainShape, 7);
for (let n = 0; n < 5; n++) {
  const input = check();
  for (const workload of ['pointRead', 'list50Join', 'count'] as const) {
    const [a, b] = [normalize(await handWritten[workload](input)), normalize(await filtered[workload](input))];
    if (a !== b) throw new Error(`MikroORM ${workload}: the filter answered differently from the hand-written query for ${JSON.stringify(input)}`);
  }
}

const sql: PeerResult['sql'] = [];
const explainInput = inputStream('explain', mainShape, 3)();
for (const workload of ['pointRead', 'list50Join', 'count'] as const) {
  for (const variant of variants) {
    sent.queries.length = 0;
    sent.capturing = true;
    await variant.ops[workload](explainInput);
    sent.capturing = false;
    sql.push({ workload, key: variant.key, sql: sent.queries.at(-1) ?? '' });
    log(`[${db}] MikroORM ${workloadLabels[workload]} (${variant.key}) ${sent.queries.at(-1)}`);
  }
}

const workloads: CompareResult['workloads'] = [];
for (const name of peerWorkloadNames) {
  const probe = inputStream(`${name}-probe`, mainShape, 11)();
  const statements = new Map<string, number>();
  for (const variant of variants) {
    const before = sent.count;
    await variant.ops[name](probe);
    statements.set(variant.key, sent.count - before);
  }
  const contenders = variants.map((v) => ({ key: v.key, run: (input: WorkloadInput) => v.ops[name](input) }));
  const samples = await sampleInterleaved(contenders, inputStream(name, mainShape), plan);
  const base = samples.get('a')!;
  const baseSummary = summarize(base);
  const results: VariantSummary[] = variants.map((variant) => {
    const s = summarize(samples.get(variant.key)!);
    const runRatios = s.runMediansUs.map((m, r) => m / base.runMedians[r]!);
    return {
      key: variant.key,
      n: s.n,
      medianUs: round(s.medianUs),
      p95Us: round(s.p95Us),
      meanUs: round(s.meanUs),
      runMediansUs: s.runMediansUs.map((m) => round(m)),
      ratioMedian: round(s.medianUs / baseSummary.medianUs, 3),
      ratioP95: round(s.p95Us / baseSummary.p95Us, 3),
      runRatioMin: round(Math.min(...runRatios), 3),
      runRatioMax: round(Math.max(...runRatios), 3),
      statements: statements.get(variant.key)!,
    };
  });
  workloads.push({ name, label: workloadLabels[name], results });
  log(
    `[${db}] MikroORM ${workloadLabels[name].padEnd(26)} ` +
      results.map((r) => `(${r.key}) p50 ${r.medianUs.toFixed(1)} µs p95 ${r.p95Us.toFixed(1)} µs ×${r.ratioMedian.toFixed(3)}/${r.ratioP95.toFixed(3)}`).join('  '),
  );
}

await plainOrm.close();
await tenantOrm.close();

const result: PeerResult = {
  kind: 'peer',
  peer: `MikroORM ${(await import('@mikro-orm/core/package.json', { with: { type: 'json' } })).default.version}`,
  db,
  shape: mainShape,
  plan: { warmup: plan.warmup, runs: plan.runs, iterations: plan.iterations },
  variants: variants.map(({ key, label, description }) => ({ key, label, description })),
  workloads,
  sql,
  notes: [
    'Filters do not apply to inserts: (b) writes tenant_id by hand, like (a).',
    'With the filter on the related entity too, MikroORM joins authors into the point read and the count (autoJoinRefsForFilters, on by default).',
    'MikroORM 7 sends SQL with values inlined; statement counts exclude BEGIN/COMMIT (they bypass onQuery).',
    db === 'sqlite' ? 'SQLite through a small driver on better-sqlite3 12: @mikro-orm/sqlite 7 needs better-sqlite3 13, which crashes on Node 20.' : '',
  ].filter(Boolean),
  durationS: round((Date.now() - started) / 1000),
};
if (flags.result) writeFileSync(flags.result, JSON.stringify(result, null, 2));
