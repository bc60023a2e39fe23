import type { DataSource } from 'typeorm';
import { CaptureLogger, createSchema, type DbKind, plainDataSource } from './datasources.js';

export { mainShape, type SeedShape, seededId } from '../lib/shape.js';
import type { SeedShape } from '../lib/shape.js';

/**
 * Fills the tables through a plain DataSource with set-based SQL (generate_series on PostgreSQL,
 * a recursive CTE on SQLite), then ANALYZE. Assumes empty tables.
 */
export async function seed(ds: DataSource, db: DbKind, shape: SeedShape): Promise<void> {
  const T = shape.tenants;
  const authors = T * shape.authorsPerTenant;
  const posts = T * shape.postsPerTenant;
  const tenantOf = (k: string) => `((${k} - 1) % ${T}) + 1`;
  const authorOf = (k: string) => `${tenantOf(k)} + ${T} * (((${k} - 1) / ${T}) % ${shape.authorsPerTenant})`;
  if (db === 'postgres') {
    // Bulk load without per-row foreign-key triggers (the rows are consistent by construction).
    await ds.transaction(async (m) => {
      await m.query('SET LOCAL session_replication_role = replica');
      await m.query(`INSERT INTO tenants (id, name) SELECT k, 'tenant ' || k FROM generate_series(1, ${T}) k`);
      await m.query(`INSERT INTO authors (id, name, tenant_id) SELECT k, 'author ' || k, ${tenantOf('k')} FROM generate_series(1, ${authors}) k`);
      await m.query(
        `INSERT INTO posts (id, title, views, author_id, tenant_id) SELECT k, 'post ' || k, k % 1000, ${authorOf('k')}, ${tenantOf('k')} FROM generate_series(1, ${posts}) k`,
      );
      for (const table of ['tenants', 'authors', 'posts']) {
        await m.query(`SELECT setval(pg_get_serial_sequence('${table}', 'id'), (SELECT max(id) FROM ${table}))`);
      }
    });
    await ds.query('VACUUM ANALYZE tenants, authors, posts');
    // Write the bulk load out now, not during the first measurements.
    await ds.query('CHECKPOINT').catch(() => undefined);
  } else {
    const series = (n: number) => `WITH RECURSIVE g(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM g WHERE k < ${n})`;
    await ds.transaction(async (m) => {
      await m.query(`${series(T)} INSERT INTO tenants (id, name) SELECT k, 'tenant ' || k FROM g`);
      await m.query(`${series(authors)} INSERT INTO authors (id, name, tenant_id) SELECT k, 'author ' || k, ${tenantOf('k')} FROM g`);
      await m.query(`${series(posts)} INSERT INTO posts (id, title, views, author_id, tenant_id) SELECT k, 'post ' || k, k % 1000, ${authorOf('k')}, ${tenantOf('k')} FROM g`);
    });
    await ds.query('ANALYZE');
  }
}

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

