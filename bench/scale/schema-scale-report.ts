import type { ScaleResult } from './schema-scale-types.js';

const n = (v: number) => v.toLocaleString('en-US');
const us = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${Math.round(v)} µs`);

/** bench/results/schema-scale.md from the run's JSON. */
export function renderScaleMarkdown(r: ScaleResult): string {
  const m = r.machine;
  const first = r.sizes[0];
  const last = r.sizes.at(-1);
  const growth = first && last ? last.pointReadUs.p50 / first.pointReadUs.p50 : Number.NaN;
  const lines = [
    `# Schema per tenant at scale${r.quick ? ' (quick run)' : ''}, ${m.date.slice(0, 10)}`,
    '',
    `${m.cpus.count} × ${m.cpus.model}, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}; TypeORM ${m.packages.typeorm}; pg ${m.packages.pg}; ` +
      `PostgreSQL ${r.server} (${Object.entries(r.settings).map(([k, v]) => `${k} ${v}`).join(', ')}; the run's database has synchronous_commit off); ` +
      `typeorm-tenancy at ${m.git.commit} (src/ last changed in ${m.git.srcCommit}${m.git.dirty ? ', uncommitted changes' : ''}). Shared machine: other sessions ran beside it.`,
    '',
    `\`npm run bench:scale\` (bench/scale/schema-scale.ts): \`strategy: 'schema'\`, entities Tenant (shared) and Author, Post (scoped, in every tenant schema: ` +
      `${r.shape.authorsPerTenant} authors and ${r.shape.postsPerTenant} posts per tenant). Tenants are created one at a time with \`tenancy.tenants.create()\` ` +
      `(one transaction each: row, schema, tables) and seeded through their manager; sizes grow from one step to the next. ` +
      `Reads: a new DataSource with one connection (one server backend) reads every tenant once (the first read in that connection), ` +
      `then ${r.readPlan.warmup} warm-up and ${r.readPlan.runs} × ${r.readPlan.iterations} timed \`tenancy.manager(t).findOneBy(Post, { id })\` of a random post of a random tenant ` +
      `(4 statements: BEGIN, set_config(search_path), SELECT, COMMIT).`,
    '',
    '| tenant schemas | create p50 (all in step) | create p50 / p95 (last 100) | seed p50 | step | point read p50 | p95 | per-run p50 | first read in a connection p50 / p95 | backend catalog cache | pg_class rows | pg_attribute rows | catalog | database |',
    '|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|',
    ...r.sizes.map(
      (s) =>
        `| ${n(s.tenants)} | ${s.provisioning.createMs.p50} ms | ${s.provisioning.lastHundredMs.p50} / ${s.provisioning.lastHundredMs.p95} ms | ${s.provisioning.seedMs.p50} ms | ${n(s.provisioning.stepS)} s | ` +
        `**${us(s.pointReadUs.p50)}** | ${us(s.pointReadUs.p95)} | ${s.runMediansUs.map((v) => us(v)).join(', ')} | ${us(s.firstReadUs.p50)} / ${us(s.firstReadUs.p95)} | ` +
        `${s.backendCacheMiB} MiB | ${n(s.catalog.pgClass)} | ${n(s.catalog.pgAttribute)} | ${s.catalog.catalogMiB} MiB | ${s.catalog.databaseMiB} MiB |`,
    ),
    '',
    first && last
      ? `Point read p50 at ${n(last.tenants)} schemas / at ${n(first.tenants)}: **×${growth.toFixed(3)}** (target ≤ 1.2: ${growth <= 1.2 ? 'met' : '**missed**'}).`
      : '',
    '',
    '## migrateAll()',
    '',
    '| change | schemas | concurrency | total | per schema | succeeded | failed | schemas verified |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...r.migrate.map(
      (x) =>
        `| ${x.label} | ${n(x.tenants)} | ${x.concurrency} | ${n(x.totalS)} s | ${x.perTenantMs} ms | ${n(x.succeeded)} | ${x.failed}${x.firstError ? ` (${x.firstError.slice(0, 120)})` : ''} | ${x.verified === undefined ? '–' : n(x.verified)} |`,
    ),
    '',
    `Whole run: ${n(r.wholeRunS)} s.`,
    '',
  ];
  return lines.join('\n');
}
