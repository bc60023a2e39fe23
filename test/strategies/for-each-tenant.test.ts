import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { TenancyConfigError } from '../../src/index.js';
import { forEachTenant } from '../../src/strategies/tenant-catalog.js';

// The pool behind tenancy.migrateAll() (the strategies' tests run it on real schemas, databases and shards).
describe('forEachTenant (migrateAll)', () => {
  it('never runs more than `concurrency` at once, runs every tenant, isolates failures and reports each', async () => {
    let running = 0;
    let peak = 0;
    const progress: Array<[number, boolean]> = [];
    const summary = await forEachTenant(
      [1, 2, 3, 4, 5, 6, 7],
      async (tenant) => {
        peak = Math.max(peak, ++running);
        await sleep(5 + (Number(tenant) % 3) * 5);
        running--;
        if (tenant === 3 || tenant === 6) throw new Error(`tenant ${String(tenant)} failed`);
      },
      { concurrency: 3, onProgress: (p) => progress.push([p.done, p.ok]) },
    );
    expect(peak).toBe(3);
    expect(summary.total).toBe(7);
    expect([...summary.succeeded].sort()).toEqual([1, 2, 4, 5, 7]);
    expect(summary.failed.map((f) => [f.tenant, (f.error as Error).message])).toEqual(
      expect.arrayContaining([[3, 'tenant 3 failed'], [6, 'tenant 6 failed']]),
    );
    expect(progress.map(([done]) => done)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(progress.filter(([, ok]) => !ok)).toHaveLength(2);
  });

  it('concurrency 1 runs one after the other, in order; no tenants is an empty summary', async () => {
    const order: string[] = [];
    await forEachTenant(['a', 'b', 'c'], async (t) => {
      order.push(`start ${String(t)}`);
      await sleep(2);
      order.push(`end ${String(t)}`);
    }, { concurrency: 1 });
    expect(order).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(await forEachTenant([], async () => {})).toEqual({ total: 0, succeeded: [], failed: [] });
  });

  it.each([0, -1, 2.5, Number.NaN])('refuses concurrency %s with a TenancyConfigError, running nothing', async (concurrency) => {
    let ran = false;
    const attempt = forEachTenant([1], async () => void (ran = true), { concurrency });
    await expect(attempt).rejects.toBeInstanceOf(TenancyConfigError);
    await expect(attempt).rejects.toThrow(/must be a positive integer/);
    expect(ran).toBe(false);
  });
});
