import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import { TenancyConfigError } from '../errors.js';
import type { TenantId } from '../scoping/tenant-key.js';
import { describeError, ProbeContext } from './context.js';
import { plantReferences } from './poison.js';
import { RawAccess, type RawRow } from './raw.js';
import { readProbes } from './read-probes.js';
import { relationProbes } from './relation-probes.js';
import { hydrate, rawKey } from './rows.js';
import { readSchema, type SchemaFacts } from './schema.js';
import { collectSeeded, createTenants, defaultSeed, snapshot } from './seed.js';
import type { IsolationReport, ProbeTenantIsolationOptions, TenancyUnderTest, TenantLabel } from './types.js';
import { writeProbes } from './write-probes.js';
import { tenantRowProbes, wayInReadProbes, wayInWriteProbes } from './way-in-probes.js';

type Snapshot = Map<EntityMetadata, Record<TenantLabel, Set<string>>>;

/** The canonical form of a tenant id, as the manager holds it (a stand-in manager: as given). */
function canonical(tenancy: TenancyUnderTest, id: unknown): TenantId {
  const manager = tenancy.manager(id) as { tenantId?: unknown };
  const held = 'tenantId' in manager ? manager.tenantId : undefined;
  return (held ?? id) as TenantId;
}

async function undoAll(undo: Array<() => Promise<void>>, problems: string[]): Promise<void> {
  while (undo.length > 0) {
    try {
      await undo.pop()!();
    } catch (error) {
      problems.push(`taking back a planted cross-tenant reference failed: ${describeError(error)}`);
    }
  }
}

/** Runs delete tasks in passes until none is left or a pass makes no progress (foreign keys decide the order). */
async function inPasses(tasks: Array<{ what: string; run: () => Promise<void> }>, problems: string[]): Promise<void> {
  let pending = tasks;
  while (pending.length > 0) {
    const failed: Array<{ what: string; run: () => Promise<void>; error: unknown }> = [];
    for (const task of pending) {
      try {
        await task.run();
      } catch (error) {
        failed.push({ ...task, error });
      }
    }
    if (failed.length === pending.length) {
      for (const task of failed) problems.push(`${task.what} failed: ${describeError(task.error)}`);
      return;
    }
    pending = failed;
  }
}

/**
 * Removes everything the run wrote: planted references, the rows of the two tenants
 * (all of them for tenants the run created; only new ones for given tenants), the
 * shared rows and the tenants it created.
 */
async function cleanUp(ctx: ProbeContext, facts: SchemaFacts, before: Snapshot | undefined, createdTenants: RawRow[] | undefined, undo: Array<() => Promise<void>>): Promise<string[]> {
  const problems: string[] = [];
  await undoAll(undo, problems);
  const tasks: Array<{ what: string; run: () => Promise<void> }> = [];
  const tables = new Set<string>();
  for (const { metadata, column } of facts.scoped.values()) {
    for (const label of ['a', 'b'] as const) {
      const tenant = ctx.tenants[label];
      if (createdTenants) {
        if (tables.has(`${metadata.tablePath}/${label}`)) continue;
        tables.add(`${metadata.tablePath}/${label}`);
        tasks.push({
          what: `deleting tenant ${String(tenant)}'s rows of ${metadata.name}`,
          run: () => ctx.raw.deleteWhere(metadata, { [column.databaseName]: tenant }, tenant),
        });
      } else if (before) {
        const old = before.get(metadata)?.[label];
        for (const row of await ctx.raw.rowsOf(metadata, column, tenant)) {
          if (old?.has(rawKey(metadata, row))) continue;
          const key = Object.fromEntries(metadata.primaryColumns.map((c) => [c.databaseName, row[c.databaseName]]));
          tasks.push({ what: `deleting ${metadata.name} ${rawKey(metadata, row)}`, run: () => ctx.raw.deleteWhere(metadata, key, tenant) });
        }
      }
    }
  }
  await inPasses(tasks, problems);
  const keyOf = (metadata: EntityMetadata, row: RawRow) => Object.fromEntries(metadata.primaryColumns.map((c) => [c.databaseName, row[c.databaseName]]));
  await inPasses(
    [...ctx.shared].reverse().map(([metadata, row]) => ({
      what: `deleting the ${metadata.name} row created for the run`,
      run: () => ctx.raw.deleteWhere(metadata, keyOf(metadata, row), undefined),
    })),
    problems,
  );
  await inPasses(
    (createdTenants ?? []).map((row) => ({
      what: `deleting the ${facts.tenantMetadata.name} created for the run`,
      run: () => ctx.raw.deleteWhere(facts.tenantMetadata, keyOf(facts.tenantMetadata, row), undefined),
    })),
    problems,
  );
  return problems;
}

/**
 * Seeds two tenants into your own entities and runs the probe battery: for every
 * tenant-scoped entity, reads and writes of tenant a aimed at tenant b's rows
 * through `tenancy.manager(a)` — find variants, counts, query builders with joins,
 * relations (with cross-tenant references planted in the database), lazy relations,
 * relation ids, trees, update/delete/soft delete/restore/save/remove/upsert of b's
 * rows, inserts naming b, raw `query()`. Every check of "nothing happened" is made
 * with plain SQL, not through the manager under test.
 *
 * Cleans up by deleting what it wrote (not by rolling back one transaction: the
 * probes must run on the manager's own connections and transactions, as in your
 * application). Run it against a test database.
 *
 * @example
 * const report = await probeTenantIsolation({ tenancy, dataSource });
 * expect(report.probes.filter((p) => !p.passed)).toEqual([]);
 */
export async function probeTenantIsolation(options: ProbeTenantIsolationOptions): Promise<IsolationReport> {
  const { tenancy } = options;
  const dataSource = options.dataSource ?? tenancy.dataSource;
  if (!dataSource) {
    throw new TenancyConfigError('probeTenantIsolation() needs the DataSource: pass { tenancy, dataSource }.', { operation: 'probeTenantIsolation' });
  }
  const facts = readSchema(tenancy, dataSource, options.entities);
  const raw = new RawAccess(dataSource, facts.rlsSetting);
  let createdTenants: RawRow[] | undefined;
  let given: readonly unknown[];
  if (options.tenants) {
    given = options.tenants;
  } else {
    createdTenants = await createTenants(facts, raw);
    const key = facts.tenantMetadata.primaryColumns[0]!;
    given = createdTenants.map((row) => hydrate(key, row));
  }
  const [a, b] = [canonical(tenancy, given[0]), canonical(tenancy, given[1])];
  if (String(a) === String(b)) {
    throw new TenancyConfigError(`probeTenantIsolation() needs two different tenants, got ${String(a)} twice.`, { operation: 'probeTenantIsolation' });
  }
  const ctx = new ProbeContext(facts, raw, tenancy, { a, b });
  const undo: Array<() => Promise<void>> = [];
  let before: Snapshot | undefined;
  let cleanup: string[] = [];
  try {
    before = await snapshot(ctx);
    const unavailable = new Map<EntityMetadata, string>();
    let failed = new Map<EntityMetadata, string>();
    if (options.seed) {
      for (const label of ['a', 'b'] as const) await options.seed(ctx.manager(label), label, ctx.tenants[label]);
    } else {
      failed = await defaultSeed(ctx, before, unavailable);
    }
    await collectSeeded(ctx, before);
    const probed = new Set<EntityMetadata>();
    for (const { metadata } of facts.probed) {
      const rows = ctx.rows.get(metadata)!;
      const missing = (['a', 'b'] as const).filter((label) => rows[label].length === 0);
      const reason = failed.get(metadata) ?? (missing.length > 0 ? `no ${metadata.name} row was seeded for tenant ${missing.join(' and ')}` : undefined);
      if (reason) ctx.skip(metadata.name, reason);
      else probed.add(metadata);
    }
    const subjects = await plantReferences(ctx, probed, unavailable, undo);
    for (const scoped of facts.probed) {
      if (!probed.has(scoped.metadata)) continue;
      await readProbes(ctx, scoped);
      await wayInReadProbes(ctx, scoped);
    }
    for (const subject of subjects) await relationProbes(ctx, subject);
    // Writes run on the data as seeded: the planted references are taken back first.
    const problems: string[] = [];
    await undoAll(undo, problems);
    if (problems.length > 0) throw new Error(problems.join('; '));
    for (const scoped of facts.probed) {
      if (!probed.has(scoped.metadata)) continue;
      await writeProbes(ctx, scoped);
      await wayInWriteProbes(ctx, scoped);
    }
    await tenantRowProbes(ctx);
  } finally {
    cleanup = await cleanUp(ctx, facts, before, createdTenants, undo);
  }
  return {
    ok: ctx.probes.length > 0 && ctx.probes.every((p) => p.passed),
    tenants: [a, b],
    probes: ctx.probes,
    notProbed: ctx.notProbed,
    cleanup,
  };
}
