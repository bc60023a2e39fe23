/**
 * A short, safe rendering of any value for an error message: never throws
 * (BigInt, circular objects, symbols) and never prints more than a few dozen characters.
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'function') return 'a raw SQL expression';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol') return value.toString();
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value === null || typeof value !== 'object') return String(value);
  try {
    const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
    return text.length > 60 ? `${text.slice(0, 60)}…` : text;
  } catch {
    return `a ${value.constructor?.name ?? 'object'} that cannot be shown`;
  }
}
