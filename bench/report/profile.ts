import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

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

const shortUrl = (url: string) => url.replace(/^file:\/\//, '').replace(/.*\/node_modules\//, '').replace(/.*\/\.tmp\/bench\//, '');

/** Self and total time per function of the newest .cpuprofile in dir. */
export function summarizeProfile(dir: string): { totalMs: number; functions: FunctionCost[] } {
  const file = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort().at(-1);
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as CpuProfile;
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
