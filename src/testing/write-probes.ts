import type { EntityTarget, ObjectLiteral } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { TenantId } from '../scoping/tenant-key.js';
import { describeError, type Outcome, type ProbeContext, tenancyCode } from './context.js';
import { fillValue, numericColumn, probeColumn } from './fill.js';
import type { RawRow } from './raw.js';
import { copyOf, deepMerge, hydrate, normalize, valueMap, whereOf } from './rows.js';
import type { ScopedFacts } from './schema.js';

type Target = EntityTarget<ObjectLiteral>;

function differences(before: RawRow, after: RawRow): string[] {
  return Object.keys(before)
    .filter((k) => normalize(before[k]) !== normalize(after[k]))
    .map((k) => `${k} ${JSON.stringify(normalize(before[k]))} → ${JSON.stringify(normalize(after[k]))}`);
}

/** Puts a row a leaking write changed or deleted back as it was, so the next probe starts from the seeded state. */
async function restore(ctx: ProbeContext, metadata: EntityMetadata, before: RawRow, owner: TenantId | undefined, after: RawRow | undefined): Promise<void> {
  try {
    if (after) await ctx.raw.update(metadata, before, before, owner);
    else await ctx.raw.insert(metadata, before, owner);
  } catch {
    // Best effort: a probe that finds the row gone says so.
  }
}

/** Runs a write and checks, raw, that the row it aimed at is still there and unchanged (`owner`: its tenant, for RLS; none for the tenant table). */
export async function leavesUnchanged(ctx: ProbeContext, metadata: EntityMetadata, row: RawRow, owner: TenantId | undefined, write: () => Promise<unknown>): Promise<Outcome> {
  const before = await ctx.raw.rowByKey(metadata, row, owner);
  if (!before) return { passed: false, detail: 'could not check: the row is gone (an earlier probe deleted it)' };
  let outcome: string;
  let affected: number | undefined;
  try {
    const result = (await write()) as { affected?: number | null } | undefined;
    affected = typeof result?.affected === 'number' ? result.affected : undefined;
    outcome = affected === undefined ? 'completed' : `${affected} rows affected`;
  } catch (error) {
    outcome = `refused: ${describeError(error)}`;
  }
  const after = await ctx.raw.rowByKey(metadata, row, owner);
  if (!after) {
    await restore(ctx, metadata, before, owner, undefined);
    return { passed: false, detail: `deleted the row (${outcome})` };
  }
  const changed = differences(before, after);
  if (changed.length > 0) {
    await restore(ctx, metadata, before, owner, after);
    return { passed: false, detail: `changed the row: ${changed.join(', ')} (${outcome})` };
  }
  if (affected !== undefined && affected > 0) return { passed: false, detail: `reported ${affected} affected rows` };
  return { passed: true, detail: `row unchanged; ${outcome}` };
}

/** Runs a write naming tenant b and expects `TenantMismatchError` with nothing written to tenant b. */
async function refusedAsMismatch(ctx: ProbeContext, scoped: ScopedFacts, write: () => Promise<unknown>): Promise<Outcome> {
  const count = async () => (await ctx.raw.rowsOf(scoped.metadata, scoped.column, ctx.tenants.b)).length;
  const before = await count();
  let failure: unknown;
  try {
    await write();
  } catch (error) {
    failure = error ?? new Error('rejected');
  }
  const written = (await count()) - before;
  if (written > 0) return { passed: false, detail: `wrote ${written} row(s) into the other tenant${failure ? ` (then ${describeError(failure)})` : ''}` };
  if (tenancyCode(failure) === 'TENANCY_TENANT_MISMATCH') return { passed: true, detail: 'refused with TenantMismatchError' };
  return { passed: false, detail: failure ? `failed with ${describeError(failure)} instead of TenantMismatchError` : 'completed without TenantMismatchError' };
}

/** A key the probes can upsert on: a non-generated primary key, or a unique constraint without the tenant column. */
function conflictColumns(metadata: EntityMetadata, tenantColumn: ColumnMetadata): ColumnMetadata[] | undefined {
  const plain = (columns: ColumnMetadata[]) => columns.length > 0 && columns.every((c) => c !== tenantColumn && !c.relationMetadata && !c.isGenerated);
  if (plain(metadata.primaryColumns)) return metadata.primaryColumns;
  const unique = [...metadata.uniques.map((u) => u.columns), ...metadata.indices.filter((i) => i.isUnique && !i.where).map((i) => i.columns)].find(plain);
  return unique;
}

/**
 * Writes of tenant a aimed at tenant b's first row: update, increment, soft delete,
 * restore, save and remove of it, upsert on its key, inserts naming tenant b, moving
 * the tenant's own row to tenant b, and finally delete. Each is checked with raw SQL.
 */
export async function writeProbes(ctx: ProbeContext, scoped: ScopedFacts): Promise<void> {
  const { metadata, column } = scoped;
  const target = metadata.target as Target;
  const rows = ctx.rows.get(metadata)!;
  const entity = metadata.name;
  const other = rows.b[0]!;
  const own = rows.a[0]!;
  const otherWhere = whereOf(metadata, other);
  const em = ctx.manager('a');
  const b = ctx.tenants.b;
  const probe = (name: string, fn: () => Promise<Outcome>) => ctx.probe(entity, name, fn);
  const change = probeColumn(metadata, column);
  const changed = () => (change ? valueMap(change, fillValue(change, 'changed')) : {});

  if (change) {
    await probe(`update(own key) (control: the write path works)`, async () => {
      const result = await em.update(target, whereOf(metadata, own), changed());
      return result.affected === undefined || result.affected === 1
        ? { passed: true, detail: `${result.affected ?? 'unknown'} row affected` }
        : { passed: false, detail: `updating the tenant's own row affected ${result.affected} rows: the write probes would prove nothing` };
    });
    await probe(`update(the other tenant's key, { ${change.propertyPath} })`, () => leavesUnchanged(ctx, metadata, other, b, () => em.update(target, otherWhere, changed())));
  } else {
    ctx.skip(entity, 'no plain updatable column to change', 'update');
  }
  const numeric = numericColumn(metadata, column);
  if (numeric) {
    await probe(`increment(the other tenant's key, '${numeric.propertyPath}')`, () =>
      leavesUnchanged(ctx, metadata, other, b, () => em.increment(target, otherWhere, numeric.propertyPath, 1)),
    );
  }
  const deleteDate = metadata.deleteDateColumn;
  if (deleteDate) {
    await probe("softDelete(the other tenant's key)", () => leavesUnchanged(ctx, metadata, other, b, () => em.softDelete(target, otherWhere)));
    await probe("restore(the other tenant's key) of a soft-deleted row", async () => {
      await ctx.raw.update(metadata, other, { [deleteDate.databaseName]: new Date(Date.UTC(2001, 0, 1)) }, b);
      try {
        return await leavesUnchanged(ctx, metadata, other, b, () => em.restore(target, otherWhere));
      } finally {
        await ctx.raw.update(metadata, other, { [deleteDate.databaseName]: null }, b);
      }
    });
  }
  await probe("save(the other tenant's row with a changed value, tenant left unset)", async () => {
    const current = (await ctx.raw.rowByKey(metadata, other, b)) ?? other;
    return leavesUnchanged(ctx, metadata, other, b, () => em.save(target, em.create(target, deepMerge(copyOf(metadata, current, column, true), changed()))));
  });
  await probe("remove(the other tenant's row, tenant left unset)", async () => {
    const current = (await ctx.raw.rowByKey(metadata, other, b)) ?? other;
    return leavesUnchanged(ctx, metadata, other, b, () => em.remove(target, em.create(target, copyOf(metadata, current, column, true))));
  });
  if (deleteDate) {
    await probe("softRemove(the other tenant's row, tenant left unset)", async () => {
      const current = (await ctx.raw.rowByKey(metadata, other, b)) ?? other;
      return leavesUnchanged(ctx, metadata, other, b, () => em.softRemove(target, em.create(target, copyOf(metadata, current, column, true))));
    });
  }
  const conflict = conflictColumns(metadata, column);
  if (conflict) {
    const paths = conflict.map((c) => c.propertyPath);
    await probe(`upsert(on ${paths.join(', ')} = the other tenant's values)`, async () => {
      // The tenant's own id is named (accepted by a tenant manager; a manager that does not stamp it needs it).
      const row = deepMerge(copyOf(metadata, own, column, false), valueMap(column, ctx.tenants.a));
      for (const c of conflict) deepMerge(row, valueMap(c, hydrate(c, other)));
      deepMerge(row, changed());
      return leavesUnchanged(ctx, metadata, other, b, () => em.upsert(target, row, paths));
    });
  } else {
    ctx.skip(entity, 'no natural key to conflict on (generated primary key, no unique constraint without the tenant column)', 'upsert');
  }
  const newRow = () => deepMerge(copyOf(metadata, own, column, false), valueMap(column, b));
  await probe('insert(a row naming the other tenant)', () => refusedAsMismatch(ctx, scoped, () => em.insert(target, newRow())));
  await probe('save(a new row naming the other tenant)', () => refusedAsMismatch(ctx, scoped, () => em.save(target, em.create(target, newRow()))));
  await probe("update(own key, { tenant: the other tenant })", async () => {
    const before = await ctx.raw.rowByKey(metadata, own, ctx.tenants.a);
    let failure: unknown;
    try {
      await em.update(target, whereOf(metadata, own), valueMap(column, b));
    } catch (error) {
      failure = error ?? new Error('rejected');
    }
    const after = await ctx.raw.rowByKey(metadata, own, ctx.tenants.a);
    if (!after || normalize(after[column.databaseName]) !== normalize(before?.[column.databaseName])) {
      return { passed: false, detail: "moved the tenant's own row to the other tenant" };
    }
    if (tenancyCode(failure) === 'TENANCY_TENANT_MISMATCH') return { passed: true, detail: 'refused with TenantMismatchError' };
    return { passed: true, detail: `the row stayed in the tenant (${failure ? `failed with ${describeError(failure)}` : 'completed'})` };
  });
  await probe("delete(the other tenant's key)", () => leavesUnchanged(ctx, metadata, other, b, () => em.delete(target, otherWhere)));
}
