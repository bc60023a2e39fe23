import { DataSource } from 'typeorm';
import { Tenancy } from '../../src/index.js';
import { blogEntities, Category, Comment, Folder, Post, Setting, Tag, Tenant, User } from '../fixtures/blog.js';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from './databases.js';

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

/**
 * Two tenants ("acme" = t1, "globex" = t2) with mirrored data, seeded through the
 * plain DataSource manager, plus deliberately poisoned cross-tenant references
 * (t1 rows pointing at t2 rows) that scoping must hide.
 */
export interface BlogWorld {
  db: TestDatabase;
  dataSource: DataSource;
  tenancy: Tenancy;
  log: SqlLog;
  t1: number;
  t2: number;
  alice: User;
  bob: User;
  posts: Record<'a1' | 'a2' | 'g1' | 'g2', Post>;
  close(): Promise<void>;
}

export async function createBlogWorld(kind: DatabaseKind): Promise<BlogWorld> {
  const db = await createTestDatabase(kind);
  const log = new SqlLog();
  const dataSource = new DataSource({ ...db.options, entities: blogEntities, synchronize: true, logger: log, logging: true } as never);
  // The plain default manager seeds and inspects every tenant's rows.
  const tenancy = new Tenancy(dataSource, { defaultManager: 'unscoped' });
  await dataSource.initialize();
  const m = dataSource.manager;
  const [acme, globex] = await m.save(Tenant, [{ name: 'acme' }, { name: 'globex' }]);
  const t1 = acme!.id;
  const t2 = globex!.id;
  const [alice, bob] = await m.save(User, [{ name: 'alice' }, { name: 'bob' }]);
  const catA = await m.save(Category, { name: 'acme-cat', tenantId: t1 } as Category);
  const catG = await m.save(Category, { name: 'globex-cat', tenantId: t2 } as Category);
  const tagA = await m.save(Tag, { label: 'acme-tag', tenantId: t1 });
  const tagG = await m.save(Tag, { label: 'globex-tag', tenantId: t2 });
  const mk = (title: string, tenantId: number, author: User, likes: number, category: Category, tags: Tag[]) =>
    m.save(Post, { title, tenantId, author, likes, category, tags } as Post);
  const a1 = await mk('acme-1', t1, alice!, 1, catA, [tagA]);
  const a2 = await mk('acme-2', t1, bob!, 2, catA, [tagA]);
  const g1 = await mk('globex-1', t2, alice!, 10, catG, [tagG]);
  const g2 = await mk('globex-2', t2, bob!, 20, catG, [tagG]);
  await m.save(Comment, [
    { body: 'acme-c1', post: a1, tenantId: t1 },
    { body: 'globex-c1', post: g1, tenantId: t2 },
  ] as Comment[]);
  // Poison: an acme post whose category, tag and pinned comment target belong to globex.
  const poisoned = await mk('acme-poisoned', t1, alice!, 3, catG, [tagG]);
  await m.save(Comment, { body: 'acme-c-poisoned', post: g1, tenantId: t1 } as Comment);
  await m.query(
    `UPDATE ${dataSource.driver.escape('comments')} SET ${dataSource.driver.escape('pinnedId')} = ${g1.id} WHERE ${dataSource.driver.escape('body')} = 'acme-c-poisoned'`,
  );
  await m.save(Setting, [
    { key: 'acme.theme', value: 'light', tenantId: t1 },
    { key: 'globex.theme', value: 'dark', tenantId: t2 },
  ]);
  const rootA = await m.save(Folder, { name: 'acme-root', tenantId: t1 } as Folder);
  await m.save(Folder, { name: 'acme-child', parent: rootA, tenantId: t1 } as Folder);
  const rootG = await m.save(Folder, { name: 'globex-root', tenantId: t2 } as Folder);
  await m.save(Folder, { name: 'globex-child-of-acme', parent: rootA, tenantId: t2 } as Folder);
  await m.save(Folder, { name: 'globex-child', parent: rootG, tenantId: t2 } as Folder);
  await m.save(Category, { name: 'acme-sub', parent: catA, tenantId: t1 } as Category);
  void poisoned;
  log.clear();
  return {
    db,
    dataSource,
    tenancy,
    log,
    t1,
    t2,
    alice: alice!,
    bob: bob!,
    posts: { a1, a2, g1, g2 },
    close: async () => {
      if (dataSource.isInitialized) await dataSource.destroy();
      await db.drop();
    },
  };
}
