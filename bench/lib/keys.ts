/**
 * Which tenant-aware keys the benchmark schema and the tenant app use: `single` (the library's
 * default: a single-column foreign key per relation, the library checks a referenced row is the
 * tenant's), `prepared` (the same keys, with `preparedReferenceChecks: true`: on PostgreSQL an
 * insert carrying its check goes as a named prepared statement) or `composite`
 * (`compositeKeys: true`: the database checks it, no extra statement).
 * Set by `--keys` in the orchestrator; its child processes inherit it through the environment.
 */
export type BenchKeys = 'single' | 'prepared' | 'composite';

const variable = 'TENANCY_BENCH_KEYS';

export function benchKeys(): BenchKeys {
  const keys = process.env[variable];
  return keys === 'composite' || keys === 'prepared' ? keys : 'single';
}

export function setBenchKeys(keys: BenchKeys): void {
  process.env[variable] = keys;
}

/** The Tenancy options for the benchmark's key mode. */
export function compositeKeysOption(): { compositeKeys: boolean; preparedReferenceChecks: boolean } {
  return { compositeKeys: benchKeys() === 'composite', preparedReferenceChecks: benchKeys() === 'prepared' };
}
