/** Statements a DataSource ran, for asserting the SQL the library produced. */
export class SqlLog {
  readonly statements: string[] = [];
  logQuery(query: string): void {
    this.statements.push(query);
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
  clear(): void {
    this.statements.length = 0;
  }
  matching(pattern: RegExp): string[] {
    return this.statements.filter((s) => pattern.test(s));
  }
}
