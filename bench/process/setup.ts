import { rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseFlags } from '../lib/cli.js';
import { CaptureLogger, createSchema, plainDataSource } from '../typeorm/datasources.js';
import { ensureSeeded, mainShape } from '../typeorm/seed.js';

// Prepares the whole-process mode's database, in a process of its own (it loads the library, to
// make the schema its synchronize makes; the measured apps start after it):
// - PostgreSQL (--target URL): creates and seeds the schema unless it is there;
// - SQLite (--result FILE): the DDL of that schema (tables and indexes as sqlite_master holds
//   them), which each app runs into its own database in memory.

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const db = flags.databases[0]!;
  if (db === 'postgres') {
    await ensureSeeded('postgres', flags.target!, mainShape);
    if (flags.result) writeFileSync(flags.result, JSON.stringify({ kind: 'setup', db }));
    return;
  }
  const file = path.join(os.tmpdir(), `tenancy_bench_ddl_${randomBytes(5).toString('hex')}.sqlite`);
  try {
    await createSchema('sqlite', file);
    const ds = await plainDataSource('sqlite', file, new CaptureLogger());
    const rows: Array<{ sql: string }> = await ds.query(
      "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END, rowid",
    );
    await ds.destroy();
    if (flags.result) writeFileSync(flags.result, JSON.stringify(rows.map((r) => r.sql)));
  } finally {
    for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
