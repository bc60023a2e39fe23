/**
 * Whether an error says the database cannot be reached (down, refusing connections,
 * dropped, the connection cut) rather than that a statement failed. Read from the
 * driver's error, which TypeORM keeps as `driverError` on a QueryFailedError.
 */
export function isConnectionFailure(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const { code, message, driverError, cause } = e as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown };
    if (typeof code === 'string' && (networkCodes.has(code) || pgStates.has(code) || code.startsWith('08'))) return true;
    if (typeof message === 'string' && messages.test(message)) return true;
    e = driverError ?? cause;
  }
  return false;
}

/** Node.js socket errors, MySQL's lost connection, SQLite's unopenable file. */
const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'PROTOCOL_CONNECTION_LOST', 'SQLITE_CANTOPEN']);
/**
 * PostgreSQL SQLSTATEs (besides class 08, connection exception): the server shutting down or
 * ending the backend (57P01-57P03), the database gone (3D000).
 */
const pgStates = new Set(['57P01', '57P02', '57P03', '3D000']);
/** Errors pg raises without a code. "not currently accepting connections" is 55000, shared with other errors. */
const messages = /Connection terminated|not currently accepting connections|connection error and is not queryable|timeout exceeded when trying to connect|the database system is (starting up|shutting down)/i;
