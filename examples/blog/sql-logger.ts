import type { Logger } from 'typeorm';

/** Keeps every SQL statement TypeORM runs, with its parameters, until `take()`. */
export class SqlLogger implements Logger {
  #lines: string[] = [];

  logQuery(query: string, parameters?: unknown): void {
    const params = Array.isArray(parameters) && parameters.length > 0 ? ` -- ${JSON.stringify(parameters)}` : '';
    this.#lines.push(query + params);
  }
  logQueryError(error: string | Error, query: string): void {
    this.#lines.push(`ERROR ${String(error)} in: ${query}`);
  }
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}

  /** The statements logged since the last call. */
  take(): string[] {
    const lines = this.#lines;
    this.#lines = [];
    return lines;
  }
}
