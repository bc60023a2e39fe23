import { createRequire } from 'node:module';
import { AbstractSqlDriver, BaseSqliteConnection, type Configuration, SqlitePlatform } from '@mikro-orm/sql';
import { SqliteDialect } from 'kysely';

// @mikro-orm/sqlite 7 depends on better-sqlite3 13, whose prebuilt binary needs Node 22 (it
// crashes with SIGSEGV on Node 20). This driver is @mikro-orm/sqlite's own (SqlitePlatform,
// BaseSqliteConnection, kysely's SqliteDialect) on the better-sqlite3 12 the project already uses.

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3') as new (file: string) => { pragma(sql: string): unknown; close(): void };

class BetterSqlite3Connection extends BaseSqliteConnection {
  database: InstanceType<typeof Database> | undefined;

  override createKyselyDialect(options: { dbName?: string }): SqliteDialect {
    this.database = new Database(options.dbName ?? this.config.get('dbName')!);
    return new SqliteDialect({ database: this.database as never });
  }
}

export class BetterSqlite3Driver extends AbstractSqlDriver<BetterSqlite3Connection> {
  constructor(config: Configuration) {
    super(config, new SqlitePlatform(), BetterSqlite3Connection, ['kysely', 'better-sqlite3']);
  }
}
