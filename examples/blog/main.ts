// The blog demo: one DataSource, two tenants, shared users, tenant-scoped posts.
// SQLite in memory by default; PostgreSQL when DATABASE_URL is set (in a fresh schema, dropped at the end).
import 'reflect-metadata';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { Tenancy, TenancyError } from '../../src/index.js';
import { Post, Tenant, User } from './entities.js';
import { SqlLogger } from './sql-logger.js';

const sql = new SqlLogger();
const url = process.env.DATABASE_URL || undefined;
const schema = `tenancy_demo_${process.pid}`;

const section = (title: string) => console.log(`\n=== ${title} ===`);
const TX = /^(BEGIN|START TRANSACTION|COMMIT|ROLLBACK)/i; // transaction control: left out for brevity
const printSql = (keep: (line: string) => boolean = (l) => !TX.test(l)) => {
  const lines = sql.take().filter(keep);
  for (const line of lines) console.log(`SQL> ${line}`);
  return lines;
};
const postRows = (posts: Post[]) => posts.map((p) => ({ id: p.id, title: p.title, tenantId: p.tenantId }));

/** Runs `attempt`, which must be refused with a TenancyError, and shows that no SQL ran. */
async function refused(what: string, attempt: () => Promise<unknown>): Promise<void> {
  console.log(`\n-- ${what}`);
  try {
    await attempt();
    throw new Error(`${what} was not refused`);
  } catch (error) {
    if (!(error instanceof TenancyError)) throw error;
    console.log(`refused: ${error.name} (${error.code})\n  ${error.message}`);
    console.log(`SQL run: ${printSql().length === 0 ? 'none' : 'see above'}`);
  }
}

/** Runs one statement on PostgreSQL outside the demo's DataSource: creating and dropping the demo schema. */
async function admin(statement: string): Promise<void> {
  const admin = new DataSource({ type: 'postgres', url });
  await admin.initialize();
  try {
    await admin.query(statement);
  } finally {
    await admin.destroy();
  }
}

async function main(): Promise<void> {
  const driver: DataSourceOptions = url
    ? { type: 'postgres', url, extra: { options: `-c search_path=${schema}` } } // unqualified names land in the demo schema
    : { type: 'better-sqlite3', database: ':memory:' };
  const dataSource = new DataSource({ ...driver, entities: [Tenant, User, Post], synchronize: true, logging: true, logger: sql });
  const tenancy = new Tenancy(dataSource); // before initialize(): it adds posts.tenant_id
  if (url) await admin(`CREATE SCHEMA "${schema}"`);
  try {
    await dataSource.initialize();
    await demo(dataSource, tenancy);
  } finally {
    if (dataSource.isInitialized) await dataSource.destroy();
    if (url) await admin(`DROP SCHEMA "${schema}" CASCADE`);
  }
}

async function demo(dataSource: DataSource, tenancy: Tenancy): Promise<void> {
  section(`1. Schema: the DDL TypeORM ran at synchronize (${dataSource.options.type})`);
  printSql((line) => /^(CREATE|ALTER|DROP) /i.test(line)); // not the catalog reads nor the data copy
  if (!url) {
    // SQLite adds foreign keys by rebuilding the table (temporary_posts, then RENAME): the stored result.
    const [posts] = await dataSource.query(`SELECT sql FROM sqlite_master WHERE name = 'posts'`);
    sql.take();
    console.log(`-- posts as stored by SQLite after the rebuild:\n${posts.sql}`);
  }

  section('2. Seed');
  const db = dataSource.manager; // plain TypeORM: tenants and users are not tenant-scoped
  const [acme, globex] = await db.save(Tenant, [{ name: 'acme' }, { name: 'globex' }]);
  const [alice, bob] = await db.save(User, [{ name: 'alice' }, { name: 'bob' }]);
  sql.take();
  const seed: [Tenant, string, User][] = [
    [acme!, 'Acme rocket skates', alice!],
    [acme!, 'Acme anvil pricing', bob!],
    [globex!, 'Globex hammock district', alice!],
  ];
  for (const [tenant, title, author] of seed) {
    const em = tenancy.manager(tenant);
    const saved = await em.save(em.create(Post, { title, author })); // no tenantId given
    console.log(`${tenant.name}: saved post #${saved.id} "${saved.title}" -> tenantId = ${saved.tenantId}`);
    printSql();
  }

  for (const tenant of [acme!, globex!]) {
    section(`3. ${tenant.name}: tenancy.manager(${tenant.name}).find(Post)`);
    const posts = await tenancy.manager(tenant).find(Post);
    printSql();
    console.table(postRows(posts));
  }

  for (const tenant of [acme!, globex!]) {
    section(`4. ${tenant.name}: users LEFT JOIN posts (tenant criterion in the ON clause)`);
    const em = tenancy.manager(tenant);
    const users = await em.createQueryBuilder(User, 'u').leftJoinAndSelect('u.posts', 'p').orderBy('u.id').getMany();
    printSql();
    console.table(users.map((u) => ({ user: u.name, posts: u.posts.map((p) => p.title).join(', ') })));
  }

  section('5. acme: em.find(Post, { safe: false }) (the explicit bypass: every tenant)');
  const all = await tenancy.manager(acme).find(Post, { safe: false });
  printSql();
  console.table(postRows(all));

  section('6. Refused (nothing reaches the database)');
  const em = tenancy.manager(acme);
  await refused(`acme inserts a post with globex's tenantId (${globex!.id})`, () =>
    em.insert(Post, { title: 'Sneaky', author: alice, tenantId: globex!.id }),
  );
  await refused('acme runs raw SQL: em.query("SELECT * FROM posts")', () => em.query('SELECT * FROM posts'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
