import { writeFileSync } from 'node:fs';
import { parseFlags, plans } from '../lib/cli.js';
import { sampleInterleaved, summarize, type Summary } from '../lib/sampler.js';
import { round } from '../lib/stats.js';
import { CaptureLogger, type DbKind } from './datasources.js';
import { ensureSeeded, mainShape, type SeedShape } from './seed.js';
import { type VariantInstance, type Variant, variantsFor } from './variants.js';
import { inputStream, type WorkloadInput, workloadLabels, type WorkloadName, workloadNames } from '../lib/workloads.js';

export interface VariantSummary extends Summary {
  key: string;
  /** This variant's median / the baseline's median (baseline: 1). */
  ratioMedian: number;
  ratioP95: number;
  /** Range of the per-run median ratios: how stable the ratio is from run to run. */
  runRatioMin: number;
  runRatioMax: number;
  /** Statements sent for one operation (BEGIN/COMMIT included). */
  statements: number;
}

export interface ExplainedQuery {
  key: string;
  sql: string;
  parameters: unknown[];
  plan: string[];
}

export interface CompareResult {
  kind: 'compare';
  db: DbKind;
  shape: SeedShape;
  plan: { warmup: number; runs: number; iterations: number };
  variants: Array<Pick<Variant, 'key' | 'label' | 'description'>>;
  workloads: Array<{ name: WorkloadName; label: string; results: VariantSummary[] }>;
  explain: Array<{ workload: WorkloadName; queries: ExplainedQuery[]; samePlan: boolean; indexUsed: string[] }>;
  durationS: number;
}

const log = (message: string) => process.stderr.write(`${message}\n`);

/** Plain JSON of a result, so two variants' answers can be compared. */
const normalize = (value: unknown) => JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));

/** The variants must answer the reads identically before any timing means anything. */
async function checkSameAnswers(instances: Array<[Variant, VariantInstance]>, shape: SeedShape): Promise<void> {
  if (instances.length < 2) return;
  const next = inputStream('check', shape, 7);
  for (let n = 0; n < 5; n++) {
    const input = next();
    for (const workload of ['pointRead', 'list20Join', 'list50Join', 'count'] as const) {
      const answers = await Promise.all(instances.map(([, instance]) => instance.ops[workload](input)));
      const first = normalize(answers[0]);
      answers.forEach((answer, k) => {
        if (normalize(answer) !== first) throw new Error(`${workload}: variant ${instances[k]![0].key} answered differently from the baseline for ${JSON.stringify(input)}`);
      });
    }
  }
}

async function explain(db: DbKind, baseline: VariantInstance, sql: string, parameters: unknown[]): Promise<string[]> {
  if (db === 'postgres') {
    const rows: Array<Record<string, string>> = await baseline.dataSource.query(`EXPLAIN (COSTS OFF) ${sql}`, parameters);
    return rows.map((r) => r['QUERY PLAN']!);
  }
  const rows: Array<{ id: number; parent: number; detail: string }> = await baseline.dataSource.query(`EXPLAIN QUERY PLAN ${sql}`, parameters);
  return rows.map((r) => r.detail);
}

/** The SQL each variant sends for the reads, and the plan the database makes of it. */
async function explainReads(db: DbKind, logger: CaptureLogger, instances: Array<[Variant, VariantInstance]>, shape: SeedShape): Promise<CompareResult['explain']> {
  const input = inputStream('explain', shape, 3)();
  const out: CompareResult['explain'] = [];
  for (const workload of ['pointRead', 'list20Join', 'list50Join', 'count'] as const) {
    const queries: ExplainedQuery[] = [];
    for (const [variant, instance] of instances) {
      const sent = await logger.capture(() => instance.ops[workload](input));
      // The read itself: variants that bind a transaction also send BEGIN, set_config and COMMIT.
      const { sql, parameters } = sent.filter((q) => /^\s*SELECT/i.test(q.sql) && !q.sql.includes('set_config')).at(-1) ?? sent.at(-1)!;
      queries.push({ key: variant.key, sql, parameters, plan: await explain(db, instances[0]![1], sql, parameters) });
    }
    const plans = queries.map((q) => q.plan.join('\n'));
    const indexUsed = [...new Set(plans.join('\n').match(/\b(posts|authors)_[a-z0-9_]+\b/g) ?? [])];
    out.push({ workload, queries, samePlan: plans.every((p) => p === plans[0]), indexUsed });
    log(`\n[${db}] ${workloadLabels[workload]}: same plan: ${plans.every((p) => p === plans[0])}; indexes: ${indexUsed.join(', ') || 'none'}`);
    for (const q of queries) {
      log(`  (${q.key}) ${q.sql}  -- ${JSON.stringify(q.parameters)}`);
      for (const line of q.plan) log(`      ${line}`);
    }
  }
  return out;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const db = flags.databases[0]!;
  const target = flags.target!;
  const full = plans(flags.quick);
  const plan = flags.half ? { ...full, runs: Math.max(5, Math.ceil(full.runs / 2)) } : full;
  const started = Date.now();
  const shape = mainShape;
  await ensureSeeded(db, target, shape);

  const logger = new CaptureLogger();
  const chosen = variantsFor(db, flags.variant);
  const instances: Array<[Variant, VariantInstance]> = [];
  for (const variant of chosen) instances.push([variant, await variant.create({ db, target, logger })]);

  await checkSameAnswers(instances, shape);
  const explained = flags.variant ? [] : await explainReads(db, logger, instances, shape);

  const workloads: CompareResult['workloads'] = [];
  const names = flags.workload ? workloadNames.filter((w) => w === flags.workload) : workloadNames;
  for (const name of names) {
    // Statements per operation, counted once outside the timing, after a first operation (first-use work,
    // such as the library's one question per table before its first write, is not per operation).
    const probe = inputStream(`${name}-probe`, shape, 11)();
    const first = inputStream(`${name}-first`, shape, 13)();
    const statements = new Map<string, number>();
    for (const [variant, instance] of instances) {
      await instance.ops[name](first);
      const before = logger.count;
      await instance.ops[name](probe);
      statements.set(variant.key, logger.count - before);
    }
    const contenders = instances.map(([variant, instance]) => ({ key: variant.key, run: (input: WorkloadInput) => instance.ops[name](input) }));
    const samples = await sampleInterleaved(contenders, inputStream(name, shape), plan);
    const base = samples.get(instances[0]![0].key)!;
    const baseSummary = summarize(base);
    const results: VariantSummary[] = instances.map(([variant]) => {
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
      `[${db}] ${workloadLabels[name].padEnd(26)} ` +
        results.map((r) => `(${r.key}) p50 ${r.medianUs.toFixed(1)} µs p95 ${r.p95Us.toFixed(1)} µs ×${r.ratioMedian.toFixed(3)}/${r.ratioP95.toFixed(3)}`).join('  '),
    );
  }

  for (const [, instance] of instances) await instance.close();
  const result: CompareResult = {
    kind: 'compare',
    db,
    shape,
    plan: { warmup: plan.warmup, runs: plan.runs, iterations: plan.iterations },
    variants: chosen.map(({ key, label, description }) => ({ key, label, description })),
    workloads,
    explain: explained,
    durationS: round((Date.now() - started) / 1000),
  };
  if (flags.result) writeFileSync(flags.result, JSON.stringify(result, null, 2));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
