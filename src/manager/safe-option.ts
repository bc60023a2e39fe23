import { TenancyConfigError } from '../errors.js';
import { describeValue } from '../scoping/describe-value.js';

/**
 * The one bypass spelling: `{ safe: false }`. Accepted by find-style options,
 * `createQueryBuilder(entity, alias, { safe: false })` and `query(sql, params, { safe: false })`.
 * Defaults to `true` (scoped).
 */
export interface SafeOption {
  safe?: boolean;
}

declare module 'typeorm' {
  // Type-level only: lets `{ safe: false }` type-check in find options of
  // repositories too. TypeORM itself ignores the key; the tenant manager reads it.
  interface FindOneOptions<Entity = any> {
    /** `false` reads every tenant's rows on purpose. Only honoured by tenant managers. Defaults to `true`. */
    safe?: boolean;
  }
}

/** Splits `{ safe }` off an options object. `safe` that is not a boolean is refused. */
export function splitSafe<T>(value: T, hasSafeProperty: boolean): { safe: boolean; rest: T } {
  if (hasSafeProperty || value === null || typeof value !== 'object' || Array.isArray(value) || !('safe' in value)) {
    return { safe: true, rest: value };
  }
  const { safe, ...rest } = value as T & SafeOption;
  if (typeof safe !== 'boolean') {
    throw new TenancyConfigError(
      `The safe option must be the boolean false (or true), not ${describeValue(safe)}. Write { safe: false } to reach every tenant on purpose.`,
      { operation: 'safe' },
    );
  }
  return { safe, rest: rest as T };
}
