import type { Driver, ObjectLiteral } from 'typeorm';

// TypeORM's SQLite drivers write number parameters into the SQL text (AbstractSqliteDriver#
// escapeQueryWithParameters), so a statement naming an id is new text for every id, and
// better-sqlite3's statement cache (BetterSqlite3QueryRunner#getStmt) prepares it anew each time.
// A tenant builder on better-sqlite3 binds safe integers instead, written `(?|0)`: better-sqlite3
// binds a JS number as a double, and `|0` makes it the integer the literal was (same value, no
// type affinity, integer arithmetic), so results are unchanged and the statement text repeats.
// The parameters stay plain numbers, as loggers expect. Other numbers are written in as TypeORM
// writes them; `:...list` values were bound already. The driver still renders everything else.

/** The driver's parameter pattern (AbstractSqliteDriver#escapeQueryWithParameters, typeorm 1.1.1). */
const PARAMETER = /:(\.\.\.)?([A-Za-z0-9_.]+)/g;

/** A safe integer the driver must bind rather than write in: pushed by it as an object, unwrapped after. */
class BoundInteger {
  constructor(readonly value: number) {}
}

function isBindable(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

/** `driver.escapeQueryWithParameters(sql, parameters)`, with safe integers bound as `(?|0)`. */
export function escapeWithBoundIntegers(driver: Driver, sql: string, parameters: ObjectLiteral): [string, unknown[]] {
  let bound: ObjectLiteral | undefined;
  for (const key in parameters) {
    const value: unknown = parameters[key];
    if (isBindable(value)) (bound ??= { ...parameters })[key] = new BoundInteger(value);
  }
  if (!bound) return driver.escapeQueryWithParameters(sql, parameters);
  const marked = bound;
  const text = sql.replace(PARAMETER, (full: string, spread: string | undefined, key: string) =>
    !spread && Object.prototype.hasOwnProperty.call(marked, key) && marked[key] instanceof BoundInteger ? `(${full}|0)` : full,
  );
  const [escaped, values] = driver.escapeQueryWithParameters(text, marked);
  for (let i = 0; i < values.length; i++) {
    const value: unknown = values[i];
    if (value instanceof BoundInteger) values[i] = value.value;
  }
  return [escaped, values];
}
