/**
 * Which tenant-aware keys the benchmark schema and the tenant app use: `single` (the library's
 * defaults: a single-column foreign key per relation, the library checks a referenced row is the
 * tenant's; on PostgreSQL an insert carrying that check goes as a named prepared statement),
 * `prepared` (the same, with `preparedReferenceChecks: true` spelled out), `unnamed` (the same keys
 * with `preparedReferenceChecks: false`: every statement unnamed, the default before it was on) or
 * `composite` (`compositeKeys: true`: the database checks it, no extra statement).
 * Set by `--keys` in the orchestrator; its child processes inherit it through the environment.
 */
export type BenchKeys = 'single' | 'prepared' | 'unnamed' | 'composite';
export const benchKeyModes: readonly BenchKeys[] = ['single', 'prepared', 'unnamed', 'composite'];

const variable = 'TENANCY_BENCH_KEYS';

export function benchKeys(): BenchKeys {
  const keys = process.env[variable];
  return benchKeyModes.find((mode) => mode === keys) ?? 'single';
}

export function setBenchKeys(keys: BenchKeys): void {
  process.env[variable] = keys;
}

/** The Tenancy options for the benchmark's key mode. */
export function compositeKeysOption(): { compositeKeys: boolean; preparedReferenceChecks?: boolean } {
  const keys = benchKeys();
  const prepared = keys === 'prepared' ? true : keys === 'unnamed' ? false : undefined;
  return { compositeKeys: keys === 'composite', ...(prepared === undefined ? {} : { preparedReferenceChecks: prepared }) };
}
