import type { DataSource } from 'typeorm';
import { CaptureLogger, createSchema, type DbKind, plainDataSource } from './datasources.js';

export { mainShape, type SeedShape, seededId } from '../lib/shape.js';
export { seed } from '../lib/seed-sql.js';
import { seed } from '../lib/seed-sql.js';
import type { SeedShape } from '../lib/shape.js';

/** Empties the tables (PostgreSQL), for reseeding at another shape. */
export async function truncate(ds: DataSource): Promise<void> {
  await ds.query('TRUNCATE posts, authors, tenants RESTART IDENTITY CASCADE');
}

/** Creates the schema and seeds it unless the database already has the benchmark data. */
export async function ensureSeeded(db: DbKind, target: string, shape: SeedShape): Promise<void> {
  const logger = new CaptureLogger();
  let ds = await plainDataSource(db, target, logger);
  const rows = await ds.query('SELECT COUNT(*) AS n FROM tenants').catch(() => undefined);
  if (rows && Number(rows[0].n) > 0) return void (await ds.destroy());
  await ds.destroy();
  const started = Date.now();
  if (!rows) await createSchema(db, target);
  ds = await plainDataSource(db, target, logger);
  await seed(ds, db, shape);
  await ds.destroy();
  process.stderr.write(`[${db}] seeded ${shape.tenants} tenants x ${shape.postsPerTenant} posts in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

