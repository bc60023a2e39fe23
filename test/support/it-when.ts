import { it } from 'vitest';

/**
 * `it` where a case of a parameterized suite applies, nothing where it does not: a test that does
 * not apply to a database or mode is not registered, rather than reported as skipped (in CI a skip
 * must mean something is missing).
 */
export function itWhen(applies: boolean): typeof it {
  return applies ? it : ((() => undefined) as unknown as typeof it);
}
