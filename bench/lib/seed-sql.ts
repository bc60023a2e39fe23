import type { DataSource, EntityManager } from 'typeorm';
import type { DbKind, SeedShape } from './shape.js';

/**
 * Fills the tables with set-based SQL (generate_series on PostgreSQL, a recursive CTE on SQLite),
 * then ANALYZE. Assumes empty tables. Runs on a QueryRunner of its own (through that runner's
 * manager), so it works on a DataSource with a Tenancy too, whose own manager refuses raw SQL.
 */
export async function seed(dataSource: DataSource, db: DbKind, shape: SeedShape): Promise<void> {
  const runner = dataSource.createQueryRunner();
  try {
    await fill(runner.manager, db, shape);
  } finally {
    await runner.release();
  }
}

/**
 * PostgreSQL, where the apps share one database: puts back what earlier app processes changed (the
 * posts they inserted, the titles they updated) and vacuums, so that every process reads the same
 * rows. Without it each process read the writes of all before it: a list of 20 went from 2.1 ms in
 * the first process to 5.8 ms in the tenth, and the later of a pair read more rows than the earlier.
 */
export async function restoreSeededRows(dataSource: DataSource, shape: SeedShape): Promise<void> {
  const runner = dataSource.createQueryRunner();
  try {
    const posts = shape.tenants * shape.postsPerTenant;
    await runner.manager.query(`DELETE FROM posts WHERE id > ${posts}`);
    await runner.manager.query(`UPDATE posts SET title = 'post ' || id WHERE title <> 'post ' || id`);
    await runner.manager.query('VACUUM ANALYZE posts');
  } finally {
    await runner.release();
  }
}

async function fill(ds: EntityManager, db: DbKind, shape: SeedShape): Promise<void> {
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

