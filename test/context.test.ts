import { once } from 'node:events';
import { Readable } from 'node:stream';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MissingTenantError, Tenancy, type TenantRef } from '../src/index.js';
import { blogEntities, Tag, Tenant } from './fixtures/blog.js';

// tenancy.run(tenant, fn) binds the tenant for everything fn does, across every kind of async boundary.
describe('tenancy.run / tenancy.current', () => {
  const ds = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: blogEntities, synchronize: true });
  const tenancy = new Tenancy(ds);
  let a: number;
  let b: number;
  beforeAll(async () => {
    await ds.initialize();
    [a, b] = (await ds.manager.save(Tenant, [{ name: 'a' }, { name: 'b' }])).map((t) => t.id) as [number, number];
  });
  afterAll(() => ds.destroy());
  const current = () => tenancy.current().tenantId;

  it('follows await, timers, setImmediate, queueMicrotask and Promise.all', async () => {
    const seen = await tenancy.run(a, async () => {
      const out: unknown[] = [current()];
      await new Promise((r) => setTimeout(r, 2));
      out.push(current());
      out.push(await new Promise((r) => setImmediate(() => r(current()))));
      out.push(await new Promise((r) => queueMicrotask(() => r(current()))));
      out.push(...(await Promise.all([1, 2, 3].map(async () => current()))));
      return out;
    });
    expect(seen).toEqual([a, a, a, a, a, a, a]);
  });

  it('follows event emitters and streams created inside', async () => {
    const seen = await tenancy.run(b, async () => {
      const stream = Readable.from(['x', 'y']);
      const out: unknown[] = [];
      stream.on('data', () => out.push(current()));
      await once(stream, 'end');
      return out;
    });
    expect(seen).toEqual([b, b]);
  });

  it('nested run rebinds and restores; outside any run current() is refused', async () => {
    const seen = await tenancy.run(a, async () => {
      const inner = await tenancy.run(b, async () => {
        await new Promise((r) => setTimeout(r, 1));
        return current();
      });
      return [inner, current()];
    });
    expect(seen).toEqual([b, a]);
    expect(() => tenancy.current()).toThrow(MissingTenantError);
    expect(() => tenancy.run(undefined as unknown as TenantRef, () => 1)).toThrow(MissingTenantError);
  });

  it('the context does not leak into work scheduled before or outside the run', async () => {
    let later: (() => unknown) | undefined;
    await tenancy.run(a, async () => {
      later = () => current();
    });
    expect(() => later!()).toThrow(MissingTenantError);
    await tenancy.run(b, () => ds.manager.save(Tag, { label: 'b-tag' }));
    expect(await tenancy.run(a, () => ds.manager.count(Tag))).toBe(0);
    expect(await tenancy.run(b, () => ds.manager.count(Tag))).toBe(1);
  });
});
