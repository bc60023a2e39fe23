import type { MachineInfo } from '../lib/machine.js';
import type { CompareResult } from '../typeorm/compare.js';
import type { MemoryResult } from '../typeorm/memory.js';
import type { ScaleResult } from '../typeorm/scale.js';

/** What the MikroORM peer (peer/mikro-orm.mts, its own process) reports. */
export interface PeerResult extends Omit<CompareResult, 'kind' | 'explain'> {
  kind: 'peer';
  peer: string;
  notes: string[];
  sql: Array<{ workload: string; key: string; sql: string }>;
}

/** What bench/results/<date>-<db>.json holds. */
export interface DatabaseReport {
  db: 'sqlite' | 'postgres';
  quick: boolean;
  machine: MachineInfo;
  server?: string;
  compare?: CompareResult;
  /**
   * The same workloads with each variant alone in its own process (not interleaved): shows what
   * (b) costs the whole process — e.g. AsyncLocalStorage's promise hooks, which (a) also pays
   * when both run in one process. Per workload: median of the per-run medians of (a) alone and (b) alone.
   */
  solo?: Array<{ name: string; a: { medianUs: number }; b: { medianUs: number }; ratioMedian: number }>;
  peer?: PeerResult;
  /** Why the peer did not run, when it did not. */
  peerSkipped?: string;
  memory?: MemoryResult;
  scale?: ScaleResult;
  scaleSkipped?: string;
  durationS: number;
  /** The whole `npm run bench` (all databases), seconds. */
  wholeRunS?: number;
}

export const targets = { ratioMedian: 1.03, managerBytes: 2048, managerStatements: 0, scaleGrowth: 1.2 };
