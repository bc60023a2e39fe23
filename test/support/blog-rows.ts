import { type EntityManager, In } from 'typeorm';
import { Category, Comment, Folder, Post, Setting, Tag, type User } from '../fixtures/blog.js';

/** The rows of one storage (all of them for the row layout), in a fixed order so ids agree across storages. */
export async function seedBlogRows(m: EntityManager, t1: number, t2: number, alice: User, bob: User) {
  const catA = await m.save(Category, { name: 'acme-cat', tenantId: t1 } as Category);
  const catG = await m.save(Category, { name: 'globex-cat', tenantId: t2 } as Category);
  const tagA = await m.save(Tag, { label: 'acme-tag', tenantId: t1 });
  const tagG = await m.save(Tag, { label: 'globex-tag', tenantId: t2 });
  const mk = (title: string, tenantId: number, author: User, likes: number, category: Category, tags: Tag[]) =>
    m.save(Post, { title, tenantId, author, likes, category, tags } as Post);
  const a1 = await mk('acme-1', t1, alice, 1, catA, [tagA]);
  const a2 = await mk('acme-2', t1, bob, 2, catA, [tagA]);
  const g1 = await mk('globex-1', t2, alice, 10, catG, [tagG]);
  const g2 = await mk('globex-2', t2, bob, 20, catG, [tagG]);
  await m.save(Comment, [
    { body: 'acme-c1', post: a1, tenantId: t1 },
    { body: 'globex-c1', post: g1, tenantId: t2 },
  ] as Comment[]);
  // Poison: an acme post whose category, tag and pinned comment target belong to globex.
  await mk('acme-poisoned', t1, alice, 3, catG, [tagG]);
  await m.save(Comment, { body: 'acme-c-poisoned', post: g1, tenantId: t1 } as Comment);
  const q = (name: string) => m.connection.driver.escape(name);
  await m.query(`UPDATE ${q('comments')} SET ${q('pinnedId')} = ${g1.id} WHERE ${q('body')} = 'acme-c-poisoned'`);
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
  return { posts: { a1, a2, g1, g2 } };
}

/**
 * Turns a full copy of the rows into one tenant's storage: deletes the other
 * tenant's rows except the strays its poison needs (acme's storage keeps globex's
 * category, tag, post 1 and its comment, and the globex folder under acme's root;
 * globex's keeps acme's root folder, the parent of that folder).
 */
export async function keepOwnRowsAndStrays(m: EntityManager, acmeStorage: boolean): Promise<void> {
  if (acmeStorage) {
    await m.delete(Setting, { key: 'globex.theme' });
    await m.delete(Post, { title: 'globex-2' });
    await m.delete(Folder, { name: In(['globex-child']) });
    await m.delete(Folder, { name: In(['globex-root']) });
    return;
  }
  await m.delete(Comment, { body: In(['acme-c1', 'acme-c-poisoned']) });
  await m.delete(Setting, { key: 'acme.theme' });
  await m.delete(Post, { title: In(['acme-1', 'acme-2', 'acme-poisoned']) });
  await m.delete(Category, { name: 'acme-sub' });
  await m.delete(Category, { name: 'acme-cat' });
  await m.delete(Tag, { label: 'acme-tag' });
  await m.delete(Folder, { name: 'acme-child' });
}
