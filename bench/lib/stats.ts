/** Order statistics over latency samples (microseconds). */

/** The q-quantile (0..1) with linear interpolation between closest ranks (R-7, what numpy uses). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const position = (sorted.length - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  return sorted[lower]! + (sorted[upper]! - sorted[lower]!) * (position - lower);
}

export const median = (values: readonly number[]): number => quantile(values, 0.5);
export const p95 = (values: readonly number[]): number => quantile(values, 0.95);

export function mean(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

/** Rounds for JSON and tables: 3 significant decimals for ratios, 1 decimal for microseconds. */
export const round = (value: number, digits = 1): number => Number(value.toFixed(digits));
