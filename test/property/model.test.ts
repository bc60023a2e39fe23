import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from '../support/databases.js';
import { type Real, runSequence, specArb, worldArb } from './model-ops.js';
import { createProofWorld, propertySeed, type ProofWorld } from './proof-world.js';

/**
 * Model-based leak search: random sequences of tenant-manager operations (finds with
 * random where/OR/relations/order/skip/take, query builders with joins and subqueries,
 * inserts, saves, upserts, updates, deletes, soft deletes, restores, increments,
 * transactions that commit or roll back, and writes naming another tenant) for three
 * tenants, from a random small world that includes notes pointing at other tenants'
 * items. After every step the result must equal the in-memory model, no returned row
 * may belong to another tenant, and a raw read of every tenant's rows must equal the
 * model (no other tenant's row appeared, changed or vanished).
 *
 * Each run is one world plus a sequence of up to 40 operations (see model-ops.ts); runs
 * continue until the operation target is reached. On failure fast-check shrinks the
 * world and the sequence, and the report prints the seed, the path and the shrunk
 * sequence. Reproduce exactly:
 *   TENANCY_PROPERTY_SEED=<seed> TENANCY_PROPERTY_PATH=<path> npx vitest run test/property/model.test.ts -t "on <database>"
 * TENANCY_PROPERTY_OPS overrides the total number of operations (default 10,000 across databases).
 */

const kinds = databaseKinds();
const totalOps = Number(process.env.TENANCY_PROPERTY_OPS ?? 10_000);
// PostgreSQL round trips cost more than in-process SQLite: it gets the smaller share.
const share: Record<string, number> = kinds.length === 2 ? { sqlite: 0.6, postgres: 0.4 } : { [kinds[0]!]: 1 };
const maxLength = 40;
const replayPath = process.env.TENANCY_PROPERTY_PATH || undefined;

describe.each(kinds)('model-based property test on %s', (kind) => {
  let w: ProofWorld;
  beforeAll(async () => {
    w = await createProofWorld(kind);
  });
  afterAll(async () => w?.close());

  const target = Math.ceil(totalOps * share[kind]!);
  it(`${target} random tenant operations match the model and never cross tenants`, { timeout: 600_000 }, async () => {
    const seed = propertySeed(`model ${kind}`);
    const real: Real = {
      w,
      ids: { tenants: w.tenantIds, owners: w.ownerIds, ownerNames: ['alice', 'bob'] },
      counter: { ops: 0, itemReads: 0, nonEmptyItemReads: 0 },
    };
    const started = Date.now();
    const property = fc.asyncProperty(worldArb, fc.array(specArb, { minLength: 1, maxLength, size: 'max' }), (world, specs) => runSequence(real, world, specs));
    // Batches with seeds seed, seed + 1, ... until the target is reached: deterministic for a given seed.
    let batch = 0;
    let runs = 0;
    while (real.counter.ops < target) {
      const batchSeed = seed + batch;
      const numRuns = replayPath ? 1 : Math.max(1, Math.ceil((target - real.counter.ops) / (maxLength / 2)));
      const details = await fc.check(property, { seed: batchSeed, numRuns, path: replayPath, endOnFailure: !!replayPath });
      if (details.failed) {
        const error = details.errorInstance;
        const cause = error instanceof Error ? (error.stack ?? error.message) : String(error);
        const report =
          `${fc.defaultReportMessage(details)}\n` +
          `Reproduce: TENANCY_PROPERTY_SEED=${batchSeed} TENANCY_PROPERTY_PATH=${details.counterexamplePath} npx vitest run test/property/model.test.ts -t "on ${kind}"\n` +
          `Error of the shrunk counterexample:\n${cause}`;
        console.error(`[model ${kind}] FAILED\n${report}`);
        throw new Error(`model-based test on ${kind} failed (seed ${batchSeed}, path ${details.counterexamplePath})\n${report}`);
      }
      runs += details.numRuns;
      batch++;
      if (replayPath) break;
    }
    const seconds = (Date.now() - started) / 1000;
    const { ops, itemReads, nonEmptyItemReads } = real.counter;
    console.log(
      `[model ${kind}] ${ops} operations in ${runs} runs (${batch} batch(es)), ${seconds.toFixed(1)} s, seed ${seed}; ` +
        `${nonEmptyItemReads} of ${itemReads} item reads expected rows`,
    );
    if (!replayPath) expect(real.counter.ops).toBeGreaterThanOrEqual(target);
  });
});
