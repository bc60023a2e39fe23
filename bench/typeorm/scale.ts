import { writeFileSync } from 'node:fs';
import { parseFlags, plans } from '../lib/cli.js';
import { sampleInterleaved, summarize } from '../lib/sampler.js';
import { round } from '../lib/stats.js';
import { CaptureLogger, plainDataSource } from './datasources.js';
import { seed, type SeedShape, truncate } from './seed.js';
import { type VariantInstance, variantsFor } from './variants.js';
import { inputStream, type WorkloadInput } from '../lib/workloads.js';

const rows = 1_000_000;
const scaleWorkloads = ['pointRead', 'list50Join'] as const;

export interface ScaleResult {
  kind: 'scale';
  rows: number;
  plan: { warmup: number; runs: number; iterations: number };
  sizes: Array<{
    tenants: number;
    rowsPerTenant: number;
    seedS: number;
    results: Record<(typeof scaleWorkloads)[number], Array<{ key: string; medianUs: number; p95Us: number }>>;
  }>;
  /** p50 at the largest tenant count / p50 at the smallest, per workload and variant (target <= 1.2). */
  growth: Record<(typeof scaleWorkloads)[number], Record<string, number>>;
}

/** PostgreSQL only: 1,000,000 posts spread over 10, 1,000 and 10,000 tenants; per-tenant p50. */
async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const target = flags.target!;
  const sizes = plans(flags.quick).scaleSizes;
  const plan = flags.quick ? { warmup: 10, runs: 5, iterations: 10 } : { warmup: 100, runs: 5, iterations: 200 };
  const logger = new CaptureLogger();
  const result: ScaleResult = { kind: 'scale', rows, plan, sizes: [], growth: { pointRead: {}, list50Join: {} } };
  for (const tenants of sizes) {
    const shape: SeedShape = { tenants, authorsPerTenant: 1, postsPerTenant: rows / tenants };
    const started = Date.now();
    const plain = await plainDataSource('postgres', target, logger);
    await truncate(plain);
    await seed(plain, 'postgres', shape);
    await plain.destroy();
    const seedS = round((Date.now() - started) / 1000);
    const instances: Array<[string, VariantInstance]> = [];
    // Schema per tenant is left out here: at 10,000 tenants it would copy 20,000 tables (its
    // provisioning cost is measured by the 200-tenant schema test); the others scale as measured.
    for (const variant of variantsFor('postgres').filter((v) => v.key !== 'd' && v.key !== 'e')) instances.push([variant.key, await variant.create({ db: 'postgres', target, logger })]);
    const size: ScaleResult['sizes'][number] = { tenants, rowsPerTenant: shape.postsPerTenant, seedS, results: { pointRead: [], list50Join: [] } };
    for (const workload of scaleWorkloads) {
      const contenders = instances.map(([key, instance]) => ({ key, run: (input: WorkloadInput) => instance.ops[workload](input) }));
      const samples = await sampleInterleaved(contenders, inputStream(`scale-${workload}`, shape), plan);
      size.results[workload] = instances.map(([key]) => {
        const s = summarize(samples.get(key)!);
        return { key, medianUs: round(s.medianUs), p95Us: round(s.p95Us) };
      });
    }
    for (const [, instance] of instances) await instance.close();
    result.sizes.push(size);
    process.stderr.write(
      `[postgres] scale ${tenants} tenants (${shape.postsPerTenant} rows each, seeded in ${seedS} s): ` +
        scaleWorkloads.map((w) => `${w} ${size.results[w].map((r) => `(${r.key}) p50 ${r.medianUs} µs`).join(' ')}`).join('; ') +
        '\n',
    );
  }
  const first = result.sizes[0];
  const last = result.sizes.at(-1);
  if (first && last) {
    for (const workload of scaleWorkloads) {
      for (const r of last.results[workload]) {
        const base = first.results[workload].find((x) => x.key === r.key)!;
        result.growth[workload][r.key] = round(r.medianUs / base.medianUs, 3);
      }
    }
  }
  if (flags.result) writeFileSync(flags.result, JSON.stringify(result, null, 2));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
