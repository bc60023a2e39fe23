import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BenchKeys } from '../lib/keys.js';
import type { MachineInfo } from '../lib/machine.js';
import type { WholeProcessResult } from '../process/whole-process.js';
import type { DatabaseReport } from './types.js';

/** What bench/results/<date>-whole-process-node<major>.json holds: one run of the whole-process mode. */
export interface WholeProcessRun {
  machine: MachineInfo;
  node: string;
  quick: boolean;
  /** The whole `npm run bench:process`, seconds (absent when it ran as part of the full bench). */
  durationS: number | undefined;
  /** 1-minute load average of the machine at the start and the end: other work skews latencies. */
  load?: { start: number; end: number };
  results: WholeProcessResult[];
}

/** Issue 15's target for every workload, whole process, tenant / plain at the median. */
export const wholeProcessTarget = 1.1;

const startMark = '<!-- whole-process:start -->';
const endMark = '<!-- whole-process:end -->';
const dbLabel = { sqlite: 'SQLite (better-sqlite3, in memory, a copy per process)', postgres: 'PostgreSQL' } as const;
const us = (value: number | undefined) => (value === undefined ? '–' : value >= 1000 ? `${(value / 1000).toFixed(2)} ms` : `${value.toFixed(0)} µs`);
const x = (ratio: number | undefined) => (ratio === undefined ? '–' : ratio.toFixed(2));

/**
 * The file-name suffix of a run's variant, after `-node<major>`: '' (single-column keys, V8's default
 * heap sizing), `-composite` (--keys composite), `-prepared` (--keys prepared), `-unnamed` (--keys unnamed), `-young<N>` (--young-mib N), or both.
 */
export function runVariant(flags: { keys: BenchKeys; youngMiB?: number | undefined }): string {
  const keys = flags.keys === 'single' ? '' : `-${flags.keys}`;
  return `${keys}${flags.youngMiB ? `-young${flags.youngMiB}` : ''}`;
}

const runFile = /^\d{4}-\d{2}-\d{2}-whole-process-node(\d+)((?:-composite|-prepared|-unnamed)?(?:-young\d+)?)\.json$/;

/** The newest run per Node major version in a results folder, Node 20 first, of one variant (runVariant). */
export function loadWholeProcessRuns(dir: string, variant = ''): WholeProcessRun[] {
  const byMajor = new Map<string, string>();
  for (const file of readdirSync(dir).sort()) {
    const m = runFile.exec(file);
    if (m && m[2] === variant) byMajor.set(m[1]!, file);
  }
  return [...byMajor.entries()]
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([, file]) => JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as WholeProcessRun);
}

/** The newest in-process report per database, for the in-process ratio beside the whole-process one. */
function loadInProcess(dir: string): DatabaseReport[] {
  const files = readdirSync(dir).filter((f) => /^\d{4}-\d{2}-\d{2}-(sqlite|postgres)\.json$/.test(f)).sort();
  const newest = new Map<string, string>();
  for (const file of files) newest.set(file.slice(11, -5), file);
  return [...newest.values()].map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as DatabaseReport);
}

function dbTable(result: WholeProcessResult, inProcess: DatabaseReport | undefined): string[] {
  const lines = [
    `| workload | plain app p50 | tenant app p50 | **tenant / plain** | per-pair ratios | CPU per op plain → tenant (ratio) | statements plain / tenant | V8 new space plain / tenant | in-process (b)/(a) | ≤ ${wholeProcessTarget.toFixed(2)} |`,
    '|---|---:|---:|---:|---|---|---|---|---:|---|',
  ];
  for (const w of result.workloads) {
    const s = w.statements;
    const statements =
      s.plainDriver === s.plain && s.tenantDriver === s.tenant ? `${s.plain} / ${s.tenant}` : `${s.plain} / ${s.tenant} (driver ${s.plainDriver} / ${s.tenantDriver})`;
    const inside = inProcess?.compare?.workloads.find((c) => c.name === w.name)?.results.find((r) => r.key === 'b')?.ratioMedian;
    lines.push(
      `| ${w.label} | ${us(w.plain.medianUs)} | ${us(w.tenant.medianUs)} | **${x(w.ratio)}** | ${x(w.pairRatioMin)}–${x(w.pairRatioMax)} | ${us(w.cpu.plainUs)} → ${us(w.cpu.tenantUs)} (${x(w.cpu.ratio)}) | ${statements} | ${w.newSpaceMiB ? `${w.newSpaceMiB.plain} / ${w.newSpaceMiB.tenant} MiB` : '–'} | ${x(inside)} | ${w.ratio <= wholeProcessTarget ? 'yes' : '**no**'} |`,
    );
  }
  return lines;
}

export function renderWholeProcess(runs: WholeProcessRun[], inProcess: DatabaseReport[]): string {
  if (runs.length === 0) return 'No whole-process run yet: `npm run bench:process`.';
  const primary = runs.find((r) => r.node.startsWith('v20.')) ?? runs[0]!;
  const m = primary.machine;
  const first = primary.results[0]!;
  const lines: string[] = [];
  lines.push(`### Whole process, ${m.date.slice(0, 10)}${primary.quick ? ' (quick smoke run: few iterations, not meaningful)' : ''}`, '');
  lines.push(
    `${m.cpus.count} × ${m.cpus.model}, ${m.memoryGiB} GiB, ${m.os}; TypeORM ${m.packages.typeorm}; better-sqlite3 ${m.packages['better-sqlite3']}; pg ${m.packages.pg}; ` +
      `typeorm-tenancy at ${m.git.commit}${m.git.srcCommit && m.git.srcCommit !== m.git.commit ? ` (src/ last changed in ${m.git.srcCommit})` : ''}${m.git.dirty ? ' with uncommitted src/ changes' : ''}.` +
      (primary.load ? ` Load average (1 min) at the start ${primary.load.start.toFixed(1)}, at the end ${primary.load.end.toFixed(1)} on ${m.cpus.count} cores.` : ''),
    '',
    `Plain app = TypeORM without the library (never loaded: checked in every process), the tenant criterion and tenant id written by hand; ` +
      `tenant app = the same app through \`tenancy.manager(t)\`, created per operation. Each process: ${first.plan.warmup} warm-up operations, then ` +
      `${first.plan.iterations.toLocaleString('en-US')} operations timed one by one per workload (${first.plan.txIterations} for the transactions); ` +
      `${first.pairs} pairs of processes, alternating (plain, tenant), (tenant, plain), …${first.together ? ', the two processes of a pair at the same time, each pinned to its own CPU (0 and 1, swapped every pair)' : first.pinnedCpu === undefined ? '' : `, every process pinned to CPU ${first.pinnedCpu} (taskset)`}; a figure is the median of the ${first.pairs} process medians. ` +
      `Statements: per operation, BEGIN/COMMIT included, counted by a TypeORM logger (and at the driver where that differs), after a first operation of the workload (first-use work, such as the library's one question per table before its first write, is not per operation). ` +
      `CPU per op: the app process's own CPU time (user + system) over the timed loop, per operation — less sensitive to other load on the machine than latency (on PostgreSQL it leaves out the server's work). ` +
      `In-process (b)/(a): the same workload in the interleaved in-process comparison (SQLite there: a WAL file, not memory).`,
    '',
  );
  for (const result of primary.results) {
    lines.push(`#### ${dbLabel[result.db]}, Node ${result.node}`, '', ...dbTable(result, inProcess.find((r) => r.db === result.db)), '');
    lines.push(
      `Plain app: ${result.plain.libraryModules} library modules loaded, promise hooks ${result.plain.promiseHooks ? '**on**' : 'off'}. ` +
        `Tenant app: promise hooks ${result.tenant.promiseHooks ? '**on** (AsyncLocalStorage used)' : 'off'}. ${result.durationS.toFixed(0)} s.`,
      '',
    );
  }
  const misses = primary.results.flatMap((r) => r.workloads.filter((w) => w.ratio > wholeProcessTarget).map((w) => `${w.label} on ${r.db} ×${x(w.ratio)}`));
  lines.push(`Target tenant / plain ≤ ${wholeProcessTarget.toFixed(2)} (issue 15): ${misses.length ? `missed by ${misses.join('; ')}.` : 'met on every workload and database.'}`, '');

  // Node versions side by side only for runs of the same code.
  const code = (run: WholeProcessRun) => `${run.machine.git.srcCommit ?? run.machine.git.commit}${run.machine.git.dirty ? '+' : ''}`;
  const sameCode = runs.filter((r) => code(r) === code(primary));
  if (sameCode.length > 1) {
    const columns = sameCode.flatMap((run) => run.results.map((r) => ({ run, r })));
    lines.push(
      '#### Node versions (tenant / plain, whole process: latency, and CPU per operation)',
      '',
      `| workload | ${columns.map(({ run, r }) => `${r.db === 'sqlite' ? 'SQLite' : 'PostgreSQL'}, Node ${run.node}`).join(' | ')} |`,
      `|---|${columns.map(() => '---:').join('|')}|`,
    );
    for (const w of first.workloads) {
      const cells = columns.map(({ r }) => {
        const v = r.workloads.find((x) => x.name === w.name);
        return v ? `${x(v.ratio)} (CPU ${x(v.cpu.ratio)})` : '–';
      });
      lines.push(`| ${w.label} | ${cells.join(' | ')} |`);
    }
    lines.push('');
  }
  const others = runs.filter((r) => !sameCode.includes(r));
  if (others.length) lines.push(`Not compared (other code): ${others.map((r) => `Node ${r.node} on ${r.machine.date.slice(0, 10)}, src/ at ${code(r)}`).join('; ')}.`, '');
  if (primary.durationS !== undefined) lines.push(`\`npm run bench:process\` took ${primary.durationS} s.`, '');
  return lines.join('\n');
}

/** The variants other than the default found in a results folder, in a fixed order (composite first, then young sizes). */
function otherVariants(dir: string): string[] {
  const found = new Set<string>();
  for (const file of readdirSync(dir)) {
    const m = runFile.exec(file);
    if (m && m[2]) found.add(m[2]);
  }
  // Composite keys alone first, then prepared and unnamed checks, then the fixed young generations by size (single keys first).
  const rank = (v: string) => Number(/-young(\d+)/.exec(v)?.[1] ?? 0) * 4 + (v.includes('-composite') ? 1 : v.includes('-prepared') ? 2 : v.includes('-unnamed') ? 3 : 0);
  return [...found].sort((a, b) => rank(a) - rank(b));
}

function variantHeading(variant: string): string {
  const parts: string[] = [];
  if (variant.includes('-composite')) parts.push('with `compositeKeys: true` (`--keys composite`): the database checks references');
  if (variant.includes('-prepared')) {
    parts.push('with `preparedReferenceChecks: true` (`--keys prepared`): single-column keys, inserts carrying their check sent as named prepared statements (the default since 2026-12-04 evening)');
  }
  if (variant.includes('-unnamed')) {
    parts.push('with `preparedReferenceChecks: false` (`--keys unnamed`): single-column keys, every statement unnamed (the default before)');
  }
  const young = /-young(\d+)/.exec(variant)?.[1];
  if (young) {
    parts.push(
      `with V8's young generation fixed at ${young} MiB semi-spaces in both apps (\`--young-mib ${young}\`): ` +
        "the library's own cost without V8's choice of when to grow the new space, which flips a process's latency on its own",
    );
  }
  return `### ${parts.join('; ').replace(/^w/, 'W')}`;
}

/** Writes whole-process.md into `out` and, when given, the whole-process section of bench/README.md. */
export function writeWholeProcessOutputs(out: string, readme?: string): void {
  let body = renderWholeProcess(loadWholeProcessRuns(out), loadInProcess(out));
  for (const variant of otherVariants(out)) {
    const runs = loadWholeProcessRuns(out, variant);
    if (runs.length) body += `\n\n${variantHeading(variant)}\n\n${renderWholeProcess(runs, []).replace(/^### /m, '#### ')}`;
  }
  writeFileSync(path.join(out, 'whole-process.md'), `${body}\n`);
  if (!readme || !existsSync(readme)) return;
  const text = readFileSync(readme, 'utf8');
  const from = text.indexOf(startMark);
  const to = text.indexOf(endMark);
  if (from < 0 || to < from) return;
  writeFileSync(readme, `${text.slice(0, from + startMark.length)}\n${body}\n${text.slice(to)}`);
}
