import { workloadLabels, type WorkloadName } from '../lib/workloads.js';
import { type DatabaseReport, targets } from './types.js';

const dbLabel = { sqlite: 'SQLite (better-sqlite3, file, WAL)', postgres: 'PostgreSQL' } as const;
const x = (ratio: number | undefined) => (ratio === undefined ? '–' : `${ratio.toFixed(3)}`);
const us = (value: number | undefined) => (value === undefined ? '–' : value >= 1000 ? `${(value / 1000).toFixed(2)} ms` : `${value.toFixed(0)} µs`);
const mark = (ok: boolean) => (ok ? 'yes' : '**no**');

/** The ratio table of one database: (b)/(a) interleaved, the headline numbers. */
function ratioTable(report: DatabaseReport): string[] {
  const lines = [
    `| workload | (a) p50 | (b) p50 | **(b)/(a) p50** | (a) p95 | (b) p95 | (b)/(a) p95 | per-run p50 ratios | statements (a)/(b) | ≤ ${targets.ratioMedian} |`,
    '|---|---:|---:|---:|---:|---:|---:|---|---|---|',
  ];
  for (const w of report.compare!.workloads) {
    const a = w.results.find((r) => r.key === 'a')!;
    const b = w.results.find((r) => r.key === 'b');
    lines.push(
      `| ${w.label} | ${us(a.medianUs)} | ${us(b?.medianUs)} | **${x(b?.ratioMedian)}** | ${us(a.p95Us)} | ${us(b?.p95Us)} | ${x(b?.ratioP95)} | ` +
        `${b ? `${b.runRatioMin.toFixed(2)}–${b.runRatioMax.toFixed(2)}` : '–'} | ${a.statements}/${b?.statements ?? '–'} | ${b ? mark(b.ratioMedian <= targets.ratioMedian) : '–'} |`,
    );
  }
  return lines;
}

/** The strategy modes — (c) RLS, (d) schema per tenant, (e) database per tenant — as ratios to the same baseline (a). */
function modesTable(report: DatabaseReport): string[] {
  const keys = [...new Set(report.compare!.workloads.flatMap((w) => w.results.map((r) => r.key)))].filter((k) => k !== 'a' && k !== 'b');
  if (keys.length === 0) return [];
  const label = (k: string) => report.compare!.variants.find((v) => v.key === k)?.label ?? k;
  const lines = [
    `| workload | ${keys.map((k) => `(${k}) ${label(k)}: p50 ratio / p95 ratio / statements`).join(' | ')} |`,
    `|---|${keys.map(() => '---').join('|')}|`,
  ];
  for (const w of report.compare!.workloads) {
    const cells = keys.map((k) => {
      const r = w.results.find((x) => x.key === k);
      return r ? `×${x(r.ratioMedian)} / ×${x(r.ratioP95)} / ${r.statements}` : '–';
    });
    lines.push(`| ${w.label} | ${cells.join(' | ')} |`);
  }
  return lines;
}

/** Context: the MikroORM peer's own ratio (its tenant filter against its hand-written queries). */
function contextTable(report: DatabaseReport): string[] {
  if (!report.peer) return [];
  const lines = ['| workload | MikroORM by hand p50 | MikroORM @Filter p50 | MikroORM filter/hand p50 | p95 |', '|---|---:|---:|---:|---:|'];
  for (const p of report.peer.workloads) {
    const [pa, pb] = [p.results.find((r) => r.key === 'a'), p.results.find((r) => r.key === 'b')];
    lines.push(`| ${p.label} | ${us(pa?.medianUs)} | ${us(pb?.medianUs)} | ${x(pb?.ratioMedian)} | ${x(pb?.ratioP95)} |`);
  }
  return lines;
}

function explainBlock(report: DatabaseReport, workload: WorkloadName): string[] {
  const e = report.compare?.explain.find((x) => x.workload === workload);
  if (!e) return [];
  const lines = [`${workloadLabels[workload]} on ${dbLabel[report.db]} — same plan: **${e.samePlan ? 'yes' : 'no'}**, index: ${e.indexUsed.join(', ') || 'none'}`, '', '```sql'];
  for (const q of e.queries) {
    lines.push(`-- (${q.key}) parameters ${JSON.stringify(q.parameters)}`, q.sql, `-- plan:`, ...q.plan.map((l) => `--   ${l}`), '');
  }
  lines.push('```', '');
  return lines;
}

export function renderMarkdown(reports: DatabaseReport[], chartFile: string | undefined): string {
  const first = reports[0]!;
  const m = first.machine;
  const lines: string[] = [];
  lines.push(`### Results of ${m.date.slice(0, 10)}${first.quick ? ' (quick smoke run: few iterations, not meaningful)' : ''}`, '');
  lines.push(
    `${m.cpus.count} × ${m.cpus.model}, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}; TypeORM ${m.packages.typeorm}; ` +
      `better-sqlite3 ${m.packages['better-sqlite3']}; pg ${m.packages.pg}` +
      `${reports.find((r) => r.server) ? `; PostgreSQL ${reports.find((r) => r.server)!.server}` : ''}; ` +
      `MikroORM ${m.packages['@mikro-orm/core']}; typeorm-tenancy at ` +
      // Reports of separate runs (one database each) name each run's commit and date.
      (new Set(reports.map((r) => r.machine.git.commit)).size > 1
        ? reports.map((r) => `${r.machine.git.commit} (${r.db}, ${r.machine.date.slice(0, 10)})`).join(', ')
        : m.git.commit) +
      `${reports.some((r) => r.machine.git.dirty) ? ' with uncommitted src/ changes' : ''}.`,
    '',
  );
  const plan = first.compare?.plan;
  if (plan) {
    lines.push(
      `(a) = plain TypeORM with \`tenant_id\` written by hand (the baseline), (b) = \`tenancy.manager(t)\` (TenantEntityManager, created per operation). ` +
        `Interleaved in one process after ${plan.warmup} warm-up rounds, ${plan.runs} runs × ${plan.iterations} rounds; ` +
        `${first.compare!.shape.tenants} tenants × ${first.compare!.shape.postsPerTenant} posts. Ratios below 1 are noise around 1.`,
      '',
    );
  }
  if (chartFile) lines.push(`![(b)/(a) per workload and database](${chartFile})`, '');
  for (const report of reports) {
    if (!report.compare) continue;
    lines.push(`#### ${dbLabel[report.db]}`, '', ...ratioTable(report), '');
    const modes = modesTable(report);
    if (modes.length) lines.push('Strategy modes, each as a ratio to (a) in the same interleaved rounds:', '', ...modes, '');
    const context = contextTable(report);
    if (context.length) lines.push(...context, '');
  }

  const misses: string[] = [];
  for (const report of reports) {
    for (const w of report.compare?.workloads ?? []) {
      const b = w.results.find((r) => r.key === 'b');
      if (b && b.ratioMedian > targets.ratioMedian) misses.push(`${w.label} on ${report.db}: ×${b.ratioMedian.toFixed(3)}`);
    }
  }
  lines.push(`Target (b)/(a) ≤ ${targets.ratioMedian} at the median: ${misses.length === 0 ? 'met on every workload and database.' : `missed by ${misses.join('; ')}.`}`, '');

  lines.push('#### Memory and cost of a tenant manager', '', '| database | bytes per TenantEntityManager | plain EntityManager | ns to create | statements to create | scoped list builder | hand-written builder | < 2 KB and 0 statements |', '|---|---:|---:|---:|---:|---:|---:|---|');
  for (const report of reports) {
    const mem = report.memory;
    if (!mem) continue;
    const ok = mem.managers.bytesPerTenantManager < targets.managerBytes && mem.managers.statements === targets.managerStatements;
    lines.push(
      `| ${report.db} | ${mem.managers.bytesPerTenantManager} B | ${mem.managers.bytesPerPlainEntityManager} B | ${mem.managers.nsPerTenantManager} | ` +
        `${mem.managers.statements} for ${mem.managers.count.toLocaleString('en-US')} | ${mem.builders.bytesPerScopedBuilder} B | ${mem.builders.bytesPerPlainBuilder} B | ${mark(ok)} |`,
    );
  }
  lines.push('');

  const scale = reports.find((r) => r.scale)?.scale;
  if (scale && scale.sizes.length) {
    lines.push(`#### Scale (PostgreSQL, ${scale.rows.toLocaleString('en-US')} posts)`, '', '| tenants | rows per tenant | seed | point read p50 (a) | (b) | list 50 p50 (a) | (b) |', '|---:|---:|---:|---:|---:|---:|---:|');
    for (const s of scale.sizes) {
      const p = (w: 'pointRead' | 'list50Join', k: string) => us(s.results[w].find((r) => r.key === k)?.medianUs);
      lines.push(`| ${s.tenants.toLocaleString('en-US')} | ${s.rowsPerTenant.toLocaleString('en-US')} | ${s.seedS} s | ${p('pointRead', 'a')} | ${p('pointRead', 'b')} | ${p('list50Join', 'a')} | ${p('list50Join', 'b')} |`);
    }
    const g = scale.growth;
    lines.push(
      '',
      `p50 at ${scale.sizes.at(-1)!.tenants.toLocaleString('en-US')} tenants / at ${scale.sizes[0]!.tenants}: point read (a) ×${x(g.pointRead.a)}, (b) ×${x(g.pointRead.b)}; ` +
        `list (a) ×${x(g.list50Join.a)}, (b) ×${x(g.list50Join.b)} (target ≤ ${targets.scaleGrowth}).`,
      '',
    );
  } else {
    const why = reports.find((r) => r.scaleSkipped)?.scaleSkipped;
    if (why) lines.push(`Scale: not run (${why}).`, '');
  }

  for (const report of reports) {
    if (report.peer) {
      lines.push(`MikroORM on ${report.db} ((a) ${report.peer.variants[0]!.label}; (b) ${report.peer.variants[1]!.label}): ${report.peer.notes.join(' ')}`, '');
    } else if (report.peerSkipped) {
      lines.push(`MikroORM on ${report.db}: not run (${report.peerSkipped}).`, '');
    }
  }

  lines.push('#### The SQL is the same', '');
  for (const report of [...reports].reverse()) lines.push(...explainBlock(report, 'pointRead'));
  const pg = reports.find((r) => r.db === 'postgres');
  if (pg) lines.push(...explainBlock(pg, 'list50Join'));
  return lines.join('\n');
}
