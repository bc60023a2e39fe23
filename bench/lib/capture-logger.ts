import type { Logger } from 'typeorm';

/**
 * A logger every benchmark DataSource gets: it counts statements and, while `capturing`, keeps
 * them (SQL printed beside EXPLAIN; "creating a manager runs no query"). The cost — one call and
 * one increment per statement — is the same for every variant.
 */
export class CaptureLogger implements Logger {
  capturing = false;
  count = 0;
  readonly queries: Array<{ sql: string; parameters: unknown[] }> = [];
  logQuery(query: string, parameters?: unknown[]): void {
    this.count++;
    if (this.capturing) this.queries.push({ sql: query, parameters: parameters ?? [] });
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}

  /** Runs fn and returns the statements it sent. */
  async capture(fn: () => Promise<unknown>): Promise<Array<{ sql: string; parameters: unknown[] }>> {
    this.queries.length = 0;
    this.capturing = true;
    try {
      await fn();
    } finally {
      this.capturing = false;
    }
    return [...this.queries];
  }
}
