import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { StorageUnavailableError } from '../../src/index.js';
import { DataSourcePool } from '../../src/strategies/data-source-pool.js';

// The pool's bookkeeping on plain resources (the strategies' tests run it on real databases).
describe('DataSourcePool', () => {
  it('never has more than maxOpen resources, opening and closing ones included; a full pool waits for an idle one', async () => {
    let alive = 0;
    let peak = 0;
    const pool = new DataSourcePool<string>({
      label: 'thing',
      maxOpen: 2,
      open: async (key) => {
        peak = Math.max(peak, ++alive);
        await sleep(5);
        return key;
      },
      close: async () => {
        await sleep(5);
        alive--;
      },
    });
    const seen: string[] = [];
    await Promise.all(
      ['a', 'b', 'c', 'd', 'e', 'a', 'c'].map((key) =>
        pool.use(key, async (value) => {
          await sleep(10);
          seen.push(value);
        }),
      ),
    );
    expect(seen.sort()).toEqual(['a', 'a', 'b', 'c', 'c', 'd', 'e']);
    expect(peak).toBe(2);
    expect(pool.openCount).toBeLessThanOrEqual(2);
    await pool.destroy();
    await sleep(20);
    expect(alive).toBe(0);
  });

  it('a connection failure during a use is StorageUnavailableError and the next use opens a new resource', async () => {
    let opened = 0;
    const pool = new DataSourcePool<number>({ label: 'shard', open: async () => ++opened, close: async () => undefined });
    await pool.use('s', async () => undefined);
    const cut = Object.assign(new Error('Connection terminated unexpectedly'), {});
    await expect(pool.use('s', async () => Promise.reject(cut))).rejects.toBeInstanceOf(StorageUnavailableError);
    // A statement's own error is not a connection failure: passed through, resource kept.
    const statement = Object.assign(new Error('duplicate key'), { code: '23505' });
    expect(await pool.use('s', async (value) => value)).toBe(2);
    await expect(pool.use('s', async () => Promise.reject(statement))).rejects.toBe(statement);
    expect(await pool.use('s', async (value) => value)).toBe(2);
  });
});
