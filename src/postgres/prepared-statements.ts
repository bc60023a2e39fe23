import { createHash } from 'node:crypto';

// `preparedReferenceChecks` (PostgreSQL, on by default). A one-row insert that carries its reference check
// (folded-reference-check.ts) reads a second table, and PostgreSQL plans that sub-select anew for
// every unnamed statement — most of what such an insert costs over a plain one. Sent as a named
// prepared statement, it is planned once per connection. TypeORM's runner hands node-postgres only
// text and values, so the library registers the texts it rendered here and its client class
// (fusing-client.ts) sends those under their name.
//
// The name is a digest of the text: one name never stands for two statements, in this process or
// another one sharing a server connection through a pooler, so a connection that already holds the
// name holds this statement.

/** Distinct texts named at most; later ones go unnamed (each named text is kept by every connection). */
export const MAX_NAMED_STATEMENTS = 256;

/** The texts a Tenancy sends as named prepared statements, and their names. */
export class PreparedStatementNames {
  readonly #names = new Map<string, string>();
  readonly #retired = new Set<string>();

  /** Names `text` from now on, unless the limit is reached or it was retired. */
  register(text: string): void {
    if (this.#names.size >= MAX_NAMED_STATEMENTS || this.#names.has(text) || this.#retired.has(text)) return;
    this.#names.set(text, statementName(text));
  }

  /**
   * Sends `text` unnamed from now on: a connection's copy of it went stale (a column it returns
   * changed type: "cached plan must not change result type", which would repeat on that connection
   * for good) or a pooler moved the connection to a server that does not hold it.
   */
  retire(text: string): void {
    if (this.#names.delete(text)) this.#retired.add(text);
  }

  /** The name `text` goes under, if registered. */
  nameOf(text: string): string | undefined {
    return this.#names.size === 0 ? undefined : this.#names.get(text);
  }

  get size(): number {
    return this.#names.size;
  }
}

/** `tenancy_` and 40 hex digits of the text's SHA-256 (PostgreSQL names are at most 63 bytes). */
export function statementName(text: string): string {
  return `tenancy_${createHash('sha256').update(text).digest('hex').slice(0, 40)}`;
}
