/**
 * Which tenant-aware keys the benchmark schema and the tenant app use: `single` (the library's
 * default: a single-column foreign key per relation, the library checks a referenced row is the
 * tenant's) or `composite` (`compositeKeys: true`: the database checks it, no extra statement).
 * Set by `--keys` in the orchestrator; its child processes inherit it through the environment.
 */
export type BenchKeys = 'single' | 'composite';

const variable = 'TENANCY_BENCH_KEYS';

export function benchKeys(): BenchKeys {
  return process.env[variable] === 'composite' ? 'composite' : 'single';
}

export function setBenchKeys(keys: BenchKeys): void {
  process.env[variable] = keys;
}

/** The Tenancy option for the benchmark's key mode. */
export function compositeKeysOption(): { compositeKeys: boolean } {
  return { compositeKeys: benchKeys() === 'composite' };
}
