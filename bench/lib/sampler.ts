import { median, p95, mean } from './stats.js';

/** One contender of an interleaved measurement: a variant's implementation of one workload. */
export interface Contender<I> {
  key: string;
  run(input: I): Promise<unknown>;
}

export interface SamplingPlan {
  /** Iterations per contender before anything is recorded (JIT, statement caches, buffer cache). */
  warmup: number;
  /** Recorded runs (>= 5); each is `iterations` rounds. */
  runs: number;
  iterations: number;
}

export interface Samples {
  /** Every recorded latency, microseconds. */
  all: number[];
  /** Median of each run, microseconds. */
  runMedians: number[];
}

export interface Summary {
  n: number;
  medianUs: number;
  p95Us: number;
  meanUs: number;
  runMediansUs: number[];
}

/**
 * Measures contenders in one process, interleaved: each round runs every contender once on the
 * same input, the order rotating from round to round (a b, b a, ...), so drift (GC, JIT, the
 * database's caches, CPU frequency) falls on all of them alike. Each operation is timed alone.
 */
export async function sampleInterleaved<I>(
  contenders: readonly Contender<I>[],
  nextInput: () => I,
  plan: SamplingPlan,
): Promise<Map<string, Samples>> {
  const samples = new Map(contenders.map((c) => [c.key, { all: [] as number[], runMedians: [] as number[] }]));
  const round = async (index: number, record: number[][] | undefined) => {
    const input = nextInput();
    for (let k = 0; k < contenders.length; k++) {
      const position = (index + k) % contenders.length;
      const contender = contenders[position]!;
      const start = process.hrtime.bigint();
      await contender.run(input);
      const elapsed = Number(process.hrtime.bigint() - start) / 1_000;
      record?.[position]!.push(elapsed);
    }
  };
  for (let i = 0; i < plan.warmup; i++) await round(i, undefined);
  for (let run = 0; run < plan.runs; run++) {
    const record = contenders.map(() => [] as number[]);
    for (let i = 0; i < plan.iterations; i++) await round(run * plan.iterations + i, record);
    contenders.forEach((c, position) => {
      const s = samples.get(c.key)!;
      s.all.push(...record[position]!);
      s.runMedians.push(median(record[position]!));
    });
  }
  return samples;
}

export function summarize(s: Samples): Summary {
  return { n: s.all.length, medianUs: median(s.all), p95Us: p95(s.all), meanUs: mean(s.all), runMediansUs: s.runMedians };
}
