import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { processPlan } from '../lib/cli.js';
import { workloadLabels, workloadNames } from '../lib/workloads.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface FunctionCost {
  name: string;
  /** Self time, ms. */
  selfMs: number;
  /** Time with everything it called, ms (for functions of src/). */
  totalMs: number;
}

const shortUrl = (url: string) => url.replace(/^file:\/\//, '').replace(/.*\/node_modules\//, '').replace(/.*\/(\.tmp\/bench|bench\/\.build)\//, '');

/** Self and total time per function of the newest .cpuprofile in dir. */
export function summarizeProfile(dir: string): { totalMs: number; functions: FunctionCost[] } {
  const file = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort().at(-1);
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  return summarizeProfileFile(path.join(dir, file));
}

/** Self and total time per function of one .cpuprofile. */
export function summarizeProfileFile(file: string): { totalMs: number; functions: FunctionCost[] } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, k) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[k] ?? 0)));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const key = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    self.set(key(node), (self.get(key(node)) ?? 0) + us);
    // Total: charge every distinct function on the stack once.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const k = key(byId.get(at)!);
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + us);
    }
  }
  const functions = [...total.keys()].map((name) => ({ name, selfMs: (self.get(name) ?? 0) / 1000, totalMs: total.get(name)! / 1000 }));
  return { totalMs: (profile.endTime - profile.startTime) / 1000, functions };
}

/** A printable comparison of (a) and (b) profiles: where (b) spends time that (a) does not. */
export function compareProfiles(aDir: string, bDir: string): string {
  const a = summarizeProfile(aDir);
  const b = summarizeProfile(bDir);
  const aSelf = new Map(a.functions.map((f) => [f.name, f.selfMs]));
  const lines: string[] = [];
  lines.push(`profile (a) ${a.totalMs.toFixed(0)} ms, (b) ${b.totalMs.toFixed(0)} ms`);
  lines.push('', 'functions of src/ in (b), by total time (with what they call):');
  for (const f of b.functions.filter((f) => f.name.includes(' src/')).sort((x, y) => y.totalMs - x.totalMs).slice(0, 25)) {
    lines.push(`  ${f.totalMs.toFixed(1).padStart(8)} ms total ${f.selfMs.toFixed(1).padStart(7)} ms self  ${f.name}`);
  }
  lines.push('', 'largest self-time increases (b) - (a):');
  const diffs = b.functions.map((f) => ({ name: f.name, diff: f.selfMs - (aSelf.get(f.name) ?? 0), b: f.selfMs })).sort((x, y) => y.diff - x.diff);
  for (const d of diffs.slice(0, 25)) lines.push(`  ${d.diff.toFixed(1).padStart(8)} ms (b self ${d.b.toFixed(1)} ms)  ${d.name}`);
  return lines.join('\n');
}

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

/** Sampled bytes allocated per function (self) of one .heapprofile, objects collected by GC included. */
export function summarizeHeapFile(file: string): { totalBytes: number; functions: Map<string, number> } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { head: HeapNode };
  const functions = new Map<string, number>();
  let totalBytes = 0;
  const walk = (node: HeapNode) => {
    const k = `${node.callFrame.functionName || '(anonymous)'} ${shortUrl(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
    if (node.selfSize) {
      functions.set(k, (functions.get(k) ?? 0) + node.selfSize);
      totalBytes += node.selfSize;
    }
    for (const child of node.children) walk(child);
  };
  walk(profile.head);
  return { totalBytes, functions };
}

const isSrc = (name: string) => / src\//.test(name);

/**
 * Where the tenant app's time and allocations go, per workload, against the plain app
 * (profiles written by the whole-process apps with --profile-dir): the library's functions
 * (src/) by self time per operation, the largest self-time increases anywhere (TypeORM's own
 * functions get slower when their inline caches see more shapes), the library's allocations.
 * Ends with the library's functions ranked over all workloads.
 */
export function summarizeWholeProcessProfiles(db: string, node: string, plainDir: string, tenantDir: string): string {
  const { iterations, txIterations } = processPlan(false);
  const lines: string[] = [`# Whole-process profiles, ${db}, Node ${node}`, ''];
  lines.push('Per operation: CPU sampled every 50 µs over the timed operations; allocations sampled every 1 KiB (objects already collected included).', '');
  const overall = new Map<string, { selfUs: number; bytes: number; workloads: Set<string> }>();
  const names = readdirSync(tenantDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => f.slice(0, -'.cpuprofile'.length));
  const order = workloadNames.filter((w) => names.includes(w));
  for (const name of order) {
    const n = name.startsWith('transaction') ? txIterations : iterations;
    const cpu = { plain: summarizeProfileFile(path.join(plainDir, `${name}.cpuprofile`)), tenant: summarizeProfileFile(path.join(tenantDir, `${name}.cpuprofile`)) };
    const heap = { plain: summarizeHeapFile(path.join(plainDir, `${name}.heapprofile`)), tenant: summarizeHeapFile(path.join(tenantDir, `${name}.heapprofile`)) };
    const perOp = (ms: number) => (ms * 1000) / n;
    // (idle), (program) and the inspector's own dispatch (Profiler.stop serializing the profile) are not the app's work.
    const notApp = (name: string) => /^\((idle|program)\)/.test(name) || name === 'dispatch :0';
    const busy = (p: typeof cpu.plain) => p.functions.filter((f) => !notApp(f.name) && !f.name.startsWith('(garbage collector)')).reduce((sum, f) => sum + f.selfMs, 0);
    const gc = (p: typeof cpu.plain) => p.functions.filter((f) => f.name.startsWith('(garbage collector)')).reduce((sum, f) => sum + f.selfMs, 0);
    const promises = (dir: string) => {
      try {
        return (JSON.parse(readFileSync(path.join(dir, `${name}.promises.json`), 'utf8')) as { perOperation: number }).perOperation.toFixed(0);
      } catch {
        return '?';
      }
    };
    lines.push(`## ${name}: ${workloadLabels[name]}`, '');
    lines.push(
      `JavaScript + native busy time per operation: plain ${perOp(busy(cpu.plain)).toFixed(1)} µs, tenant ${perOp(busy(cpu.tenant)).toFixed(1)} µs; ` +
        `GC: ${perOp(gc(cpu.plain)).toFixed(1)} → ${perOp(gc(cpu.tenant)).toFixed(1)} µs; ` +
        `allocated: ${(heap.plain.totalBytes / n / 1024).toFixed(1)} → ${(heap.tenant.totalBytes / n / 1024).toFixed(1)} KiB per operation; ` +
        `promises created: ${promises(plainDir)} → ${promises(tenantDir)} per operation.`,
      '',
    );
    const src = cpu.tenant.functions.filter((f) => isSrc(f.name)).sort((a, b) => b.selfMs - a.selfMs);
    const srcSelf = src.reduce((sum, f) => sum + f.selfMs, 0);
    lines.push(`The library's own functions (src/): ${perOp(srcSelf).toFixed(1)} µs self per operation. By self time (µs per operation; total = with what they call):`, '', '| self µs/op | total µs/op | function |', '|---:|---:|---|');
    for (const f of src.slice(0, 12)) lines.push(`| ${perOp(f.selfMs).toFixed(2)} | ${perOp(f.totalMs).toFixed(2)} | \`${f.name}\` |`);
    const plainSelf = new Map(cpu.plain.functions.map((f) => [f.name, f.selfMs]));
    const diffs = cpu.tenant.functions
      .filter((f) => !notApp(f.name))
      .map((f) => ({ name: f.name, diff: f.selfMs - (plainSelf.get(f.name) ?? 0) }))
      .sort((a, b) => b.diff - a.diff);
    lines.push('', 'Largest self-time increases, tenant − plain (µs per operation, any code):', '', '| +µs/op | function |', '|---:|---|');
    for (const d of diffs.slice(0, 12)) lines.push(`| ${perOp(d.diff).toFixed(2)} | \`${d.name}\` |`);
    const allocations = [...heap.tenant.functions.entries()].filter(([k]) => isSrc(k)).sort((a, b) => b[1] - a[1]);
    const srcBytes = allocations.reduce((sum, [, b]) => sum + b, 0);
    lines.push('', `Allocations by the library's functions: ${(srcBytes / n).toFixed(0)} B per operation (self, sampled):`, '', '| B/op | function |', '|---:|---|');
    for (const [k, b] of allocations.slice(0, 8)) lines.push(`| ${(b / n).toFixed(0)} | \`${k}\` |`);
    lines.push('');
    for (const f of src) {
      const o = overall.get(f.name) ?? { selfUs: 0, bytes: 0, workloads: new Set<string>() };
      o.selfUs += perOp(f.selfMs);
      o.workloads.add(name);
      overall.set(f.name, o);
    }
    for (const [k, b] of allocations) {
      const o = overall.get(k) ?? { selfUs: 0, bytes: 0, workloads: new Set<string>() };
      o.bytes += b / n;
      overall.set(k, o);
    }
  }
  lines.push('## The library over all workloads', '', 'Sum over the workloads of self µs per operation (one operation of each), and of bytes allocated per operation:', '', '| Σ self µs/op | Σ B/op | workloads | function |', '|---:|---:|---:|---|');
  for (const [k, o] of [...overall.entries()].sort((a, b) => b[1].selfUs - a[1].selfUs).slice(0, 30)) {
    lines.push(`| ${o.selfUs.toFixed(2)} | ${o.bytes.toFixed(0)} | ${o.workloads.size} | \`${k}\` |`);
  }
  lines.push('');
  return lines.join('\n');
}
