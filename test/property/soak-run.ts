import { setImmediate as nextTurn } from 'node:timers/promises';
import type { DataSource } from 'typeorm';
import { expect } from 'vitest';
import { MissingTenantError, type Tenancy, type TenantEntityManager } from '../../src/index.js';
import { ProofItem } from '../fixtures/proof-entities.js';
import { propertySeed } from './proof-world.js';

/**
 * The concurrency soak (soak.test.ts, soak-rls.test.ts): 1,000 interleaved operations
 * of three tenants, each inside `tenancy.run(tenant, fn)` and reaching the database
 * only through `tenancy.current()`, over a pool of 5 connections with 20 operations in
 * flight and random small delays (timers and turns of the event loop) between awaits.
 * Every tenant labels its rows row-0, row-1, ... so the same labels exist in every
 * tenant: a write by label that crossed tenants would change another tenant's row.
 *
 * Checked: after every await the bound tenant is still the operation's own; every
 * read (also inside transactions) returns only the tenant's rows, with every row
 * committed before it started; at the end the raw rows of each tenant equal what its
 * own committed operations wrote (labels and counters), rolled-back work is absent,
 * and no tenant is bound outside run(). With row-level security also: inside every
 * transaction the database's tenant setting is the operation's tenant, raw SQL reads
 * (allowed under RLS) return only its rows, and no pooled connection keeps a setting.
 */

export const OPERATIONS = 1_000;
const IN_FLIGHT = 20;
export const POOL = 5;

export interface SoakSubject {
  /** Names the seed in the log (`[name] seed ...`). */
  name: string;
  tenancy: Tenancy;
  tenantIds: number[];
  /** The DataSource whose pool the operations use (its size is checked). */
  pooled: DataSource;
  /** A DataSource that sees every tenant's rows (the final raw comparison). */
  raw: DataSource;
  /** The row-level-security setting to check, when the tenancy runs with RLS. */
  rlsSetting?: string;
}

/** mulberry32: a small seeded generator, so the mix of operations is reproducible. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface TenantState {
  /** Committed rows: label -> qty. */
  committed: Map<string, number>;
  /** Committed rows no operation will delete: labels an increment or a delete may pick. */
  live: string[];
  /** Labels whose delete is in flight: a concurrent read may or may not see them. */
  deleting: Set<string>;
  /** Labels whose insert is in flight: a concurrent read may see them (after commit). */
  inserting: Set<string>;
  /** Labels deleted (labels are never reused). */
  deleted: Set<string>;
  next: number;
}

/** Runs the soak; fails (expect) on any cross-talk. */
export async function runSoak(subject: SoakSubject): Promise<void> {
  const seed = propertySeed(subject.name);
  const random = generator(seed);
  const int = (n: number) => Math.floor(random() * n);
  const { tenancy } = subject;
  const tenants = subject.tenantIds;
  const state = new Map<number, TenantState>(tenants.map((t) => [t, { committed: new Map(), live: [], deleting: new Set(), inserting: new Set(), deleted: new Set(), next: 0 }]));
  const counts: Record<string, number> = {};
  const started = Date.now();

  const pause = async () => {
    const r = random();
    if (r < 0.3) return;
    if (r < 0.6) await nextTurn();
    else await new Promise((resolve) => setTimeout(resolve, int(4)));
  };
  /** The tenant bound here must be `tid`, after every await. */
  const current = (tid: number, where: string): TenantEntityManager => {
    const em = tenancy.current();
    if (em.tenantId !== tid) throw new Error(`cross-talk: ${where} of tenant ${tid} runs bound to tenant ${String(em.tenantId)}`);
    return em;
  };
  /** A read of tenant `tid`: only its rows, every row committed before `before` (unless being deleted). */
  const checkRead = (tid: number, rows: ProofItem[], before: Set<string>, where: string, alsoExpected: string[] = []) => {
    const s = state.get(tid)!;
    const foreign = rows.filter((r) => r.tenantId !== tid);
    if (foreign.length > 0) throw new Error(`cross-talk: ${where} of tenant ${tid} returned rows of tenants ${foreign.map((r) => r.tenantId).join(', ')}`);
    const labels = rows.map((r) => r.label);
    if (new Set(labels).size !== labels.length) throw new Error(`cross-talk: ${where} of tenant ${tid} returned a label twice: ${labels.join(', ')}`);
    const known = (l: string) => s.committed.has(l) || s.inserting.has(l) || s.deleting.has(l) || s.deleted.has(l) || alsoExpected.includes(l);
    const unknown = labels.filter((l) => !known(l));
    if (unknown.length > 0) throw new Error(`cross-talk: ${where} of tenant ${tid} returned rows it never wrote: ${unknown.join(', ')}`);
    // A row committed before the read started is seen, unless a concurrent delete of it has begun since.
    const missing = [...before, ...alsoExpected].filter((l) => !labels.includes(l) && !s.deleting.has(l) && !s.deleted.has(l));
    if (missing.length > 0) throw new Error(`${where} of tenant ${tid} misses its committed rows ${missing.join(', ')}`);
  };
  /** An increment by label: one row of the tenant, or none when a concurrent delete of that label won. */
  const counted = (tid: number, label: string, affected: number | undefined, where: string) => {
    const s = state.get(tid)!;
    if (affected === 1) {
      if (s.committed.has(label)) s.committed.set(label, s.committed.get(label)! + 1);
    } else if (affected !== 0 || (s.committed.has(label) && !s.deleting.has(label))) {
      throw new Error(`${where}: increment of ${label} of tenant ${tid} affected ${affected} rows`);
    }
  };
  const stable = (s: TenantState) => new Set([...s.committed.keys()].filter((l) => !s.deleting.has(l)));
  const reserve = (s: TenantState) => {
    const label = `row-${s.next++}`;
    s.inserting.add(label);
    return label;
  };

  const operation = async (i: number): Promise<void> => {
    const tid = tenants[int(tenants.length)]!;
    const s = state.get(tid)!;
    const roll = random();
    const kind =
      roll < 0.3 ? 'read' : roll < 0.4 ? 'builder' : roll < 0.6 ? 'insert' : roll < 0.7 ? 'increment' : roll < 0.75 ? 'delete' : roll < 0.93 ? 'transaction' : 'nested';
    counts[kind] = (counts[kind] ?? 0) + 1;
    await tenancy.run(tid, async () => {
      await pause();
      const where = `operation ${i} (${kind})`;
      switch (kind) {
        case 'read': {
          const before = stable(s);
          // Under RLS raw SQL is allowed and runs in a transaction bound to the tenant: half the reads use it.
          const rows =
            subject.rlsSetting && random() < 0.5
              ? ((await current(tid, where).query('SELECT label, tenant_id FROM proof_items')) as Array<{ label: string; tenant_id: number }>).map(
                  (r) => ({ label: r.label, tenantId: r.tenant_id }) as ProofItem,
                )
              : await current(tid, where).find(ProofItem, { order: { id: 'ASC' } });
          checkRead(tid, rows, before, where);
          break;
        }
        case 'builder': {
          const before = stable(s);
          const em = current(tid, where);
          const rows = await em.createQueryBuilder(ProofItem, 'i').where('i.qty >= :q', { q: 0 }).orWhere('1 = 1').getMany();
          checkRead(tid, rows, before, where);
          await pause();
          const other = tenants.find((t) => t !== tid)!;
          const foreign = await current(tid, where).countBy(ProofItem, { tenantId: other });
          if (foreign !== 0) throw new Error(`cross-talk: ${where} of tenant ${tid} counted ${foreign} rows of tenant ${other}`);
          break;
        }
        case 'insert': {
          const label = reserve(s);
          await current(tid, where).insert(ProofItem, { label, qty: 0 });
          s.inserting.delete(label);
          s.committed.set(label, 0);
          s.live.push(label);
          break;
        }
        case 'increment': {
          if (s.live.length === 0) break;
          const label = s.live[int(s.live.length)]!;
          // The same label exists in the other tenants: the increment must touch only this tenant's row.
          const result = await current(tid, where).increment(ProofItem, { label }, 'qty', 1);
          counted(tid, label, result.affected, where);
          break;
        }
        case 'delete': {
          if (s.live.length === 0) break;
          const label = s.live.splice(int(s.live.length), 1)[0]!;
          s.deleting.add(label);
          await pause();
          const result = await current(tid, where).delete(ProofItem, { label });
          if (result.affected !== 1) throw new Error(`${where}: delete of ${label} affected ${result.affected} rows`);
          s.committed.delete(label);
          s.deleting.delete(label);
          s.deleted.add(label);
          break;
        }
        case 'transaction': {
          const commit = random() < 0.7;
          const labels = [reserve(s), reserve(s)];
          const bump = s.live.length > 0 && random() < 0.5 ? s.live[int(s.live.length)] : undefined;
          const before = stable(s);
          let bumped: number | undefined = 0;
          const work = current(tid, where).transaction(async (tx) => {
            if (tx.tenantId !== tid) throw new Error(`cross-talk: ${where} transaction bound to ${String(tx.tenantId)}`);
            if (subject.rlsSetting) {
              const [{ bound }] = (await tx.query('SELECT current_setting($1, true) AS bound', [subject.rlsSetting])) as Array<{ bound: string | null }>;
              if (bound !== String(tid)) throw new Error(`cross-talk: ${where} transaction of tenant ${tid} has ${subject.rlsSetting} = ${String(bound)}`);
            }
            await tx.insert(ProofItem, labels.map((label) => ({ label, qty: 0 })));
            await pause();
            current(tid, `${where} inside the transaction`);
            if (bump) bumped = (await tx.increment(ProofItem, { label: bump }, 'qty', 1)).affected;
            checkRead(tid, await tx.find(ProofItem), before, `${where} inside the transaction`, labels);
            await pause();
            if (!commit) throw new Error('rollback');
          });
          if (commit) await work;
          else await expect(work).rejects.toThrow('rollback');
          for (const label of labels) s.inserting.delete(label);
          if (commit) {
            for (const label of labels) {
              s.committed.set(label, 0);
              s.live.push(label);
            }
            if (bump) counted(tid, bump, bumped, `${where} (increment in the transaction)`);
          }
          break;
        }
        case 'nested': {
          const other = tenants[(tenants.indexOf(tid) + 1 + int(2)) % tenants.length]!;
          const otherBefore = stable(state.get(other)!);
          await tenancy.run(other, async () => {
            await pause();
            checkRead(other, await current(other, `${where} (inner run)`).find(ProofItem), otherBefore, `${where} (inner run)`);
          });
          await pause();
          const before = stable(s);
          checkRead(tid, await current(tid, `${where} (outer run after the inner one)`).find(ProofItem), before, `${where} (outer run)`);
          break;
        }
      }
      current(tid, `${where} at its end`);
    });
  };

  let next = 0;
  const worker = async () => {
    while (next < OPERATIONS) await operation(next++);
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));

  // Nothing is bound outside run(), and the pool did not grow beyond its size.
  expect(() => tenancy.current()).toThrow(MissingTenantError);
  const pool = (subject.pooled.driver as unknown as { master?: { totalCount?: number } }).master;
  expect(pool?.totalCount).toBeGreaterThan(0);
  expect(pool?.totalCount).toBeLessThanOrEqual(POOL);
  if (subject.rlsSetting) {
    // Every pooled connection (held at once, so they are distinct) is back without a tenant setting.
    const sessions = (await Promise.all(
      Array.from({ length: POOL }, () => subject.pooled.query('SELECT current_setting($1, true) AS bound, pg_backend_pid() AS pid, pg_sleep(0.05)', [subject.rlsSetting])),
    )) as Array<Array<{ bound: string | null; pid: number }>>;
    expect(new Set(sessions.map((r) => r[0]!.pid)).size).toBe(POOL);
    for (const [row] of sessions) expect(['', null]).toContain(row!.bound);
  }
  for (const tid of tenants) {
    const raw = await subject.raw.manager.find(ProofItem, { where: { tenantId: tid }, withDeleted: true });
    const actual = Object.fromEntries(raw.map((r) => [r.label, r.qty]).sort());
    const expected = Object.fromEntries([...state.get(tid)!.committed].sort());
    expect(actual, `rows of tenant ${tid}`).toEqual(expected);
  }
  const total = await subject.raw.manager.count(ProofItem, { withDeleted: true });
  expect(total).toBe(tenants.reduce((n, t) => n + state.get(t)!.committed.size, 0));
  console.log(
    `[${subject.name}] ${OPERATIONS} operations (${Object.entries(counts)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}), ${total} rows at the end, ${((Date.now() - started) / 1000).toFixed(1)} s, seed ${seed}`,
  );
}
