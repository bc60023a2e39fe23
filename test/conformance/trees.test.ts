import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Category, Folder } from '../fixtures/blog.js';
import { conformanceCases, createBlogWorld, type BlogWorld } from '../support/blog-world.js';

type Named = { name: string; children?: Named[] };
const names = (nodes: Named[]): unknown => nodes.map((n) => (n.children?.length ? [n.name, names(n.children)] : n.name));

describe.each(await conformanceCases())('trees on $name', (c) => {
  let w: BlogWorld;
  beforeAll(async () => {
    w = await createBlogWorld(c);
  });
  afterAll(async () => w?.close());

  it('materialized path: findTrees / findRoots / findDescendants / findDescendantsTree / findAncestors / countDescendants', async () => {
    const repo = w.tenancy.manager(w.t1).getTreeRepository(Category);
    expect(names(await repo.findTrees())).toEqual([['acme-cat', ['acme-sub']]]);
    expect((await repo.findRoots()).map((c) => c.name)).toEqual(['acme-cat']);
    const root = (await repo.findRoots())[0]!;
    expect((await repo.findDescendants(root)).map((c) => c.name).sort()).toEqual(['acme-cat', 'acme-sub']);
    expect(names([await repo.findDescendantsTree(root)])).toEqual([['acme-cat', ['acme-sub']]]);
    const sub = await repo.findOneByOrFail({ name: 'acme-sub' });
    expect((await repo.findAncestors(sub)).map((c) => c.name).sort()).toEqual(['acme-cat', 'acme-sub']);
    expect(await repo.countDescendants(root)).toBe(2);
    expect(await repo.countAncestors(sub)).toBe(2);
    expect((await repo.findAncestorsTree(sub)).parent?.name).toBe('acme-cat');
    expect(names(await w.tenancy.manager(w.t2).getTreeRepository(Category).findTrees())).toEqual(['globex-cat']);
    // The query builders behind them (createDescendantsQueryBuilder, createAncestorsQueryBuilder) are scoped too.
    expect((await repo.createDescendantsQueryBuilder('c', 'closure', root).getMany()).map((c) => c.name).sort()).toEqual(['acme-cat', 'acme-sub']);
    expect((await repo.createAncestorsQueryBuilder('c', 'closure', sub).getMany()).map((c) => c.name).sort()).toEqual(['acme-cat', 'acme-sub']);
  });

  it('closure table: findTrees / findDescendants never show another tenant node, even one attached under ours', async () => {
    const repo = w.tenancy.manager(w.t1).getTreeRepository(Folder);
    expect(names(await repo.findTrees())).toEqual([['acme-root', ['acme-child']]]);
    const root = await repo.findOneByOrFail({ name: 'acme-root' });
    expect((await repo.findDescendants(root)).map((f) => f.name).sort()).toEqual(['acme-child', 'acme-root']);
    expect(await repo.countDescendants(root)).toBe(2);
    const globex = w.tenancy.manager(w.t2).getTreeRepository(Folder);
    expect(names(await globex.findTrees())).toEqual([['globex-root', ['globex-child']]]);
    const child = await repo.save(repo.create({ name: 'acme-new', parent: root }));
    expect(child.tenantId).toBe(w.t1);
    expect((await repo.findAncestors(child)).map((f) => f.name).sort()).toEqual(['acme-new', 'acme-root']);
  });
});
