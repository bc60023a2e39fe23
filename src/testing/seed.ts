import type { EntityTarget, ObjectLiteral } from 'typeorm';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { RelationMetadata } from 'typeorm/metadata/RelationMetadata.js';
import { TenancyConfigError } from '../errors.js';
import type { TenantId } from '../scoping/tenant-key.js';
import { describeError, type ProbeContext } from './context.js';
import { fillValue, requiredColumns } from './fill.js';
import type { RawAccess, RawRow } from './raw.js';
import { deepMerge, rawKey, valueMap, whereOf } from './rows.js';
import type { SchemaFacts } from './schema.js';
import type { TenantLabel } from './types.js';

const labels: TenantLabel[] = ['a', 'b'];
/** Rows the default seed writes per tenant and entity: one to aim at, one to carry cross-tenant references. */
const ROWS_PER_TENANT = 2;

/** Required to-one relations: their join columns are NOT NULL. */
function requiredRelations(metadata: EntityMetadata): RelationMetadata[] {
  return metadata.relations.filter((r) => (r.isManyToOne || r.isOneToOneOwner) && !r.isNullable && r.joinColumns.length > 0);
}

/** A row of `metadata` with every required column filled, or the reason there can be none. */
function fillRow(metadata: EntityMetadata, facts: SchemaFacts, variant: string): ObjectLiteral | string {
  const row: ObjectLiteral = {};
  for (const column of requiredColumns(metadata, facts.scoped.get(metadata)?.column)) {
    const value = fillValue(column, variant);
    if (value === undefined) return `no value can be made up for its required column ${column.propertyPath} (${String(typeof column.type === 'function' ? column.type.name : column.type)}); pass seed`;
    deepMerge(row, valueMap(column, value));
  }
  return row;
}

async function insertShared(facts: SchemaFacts, raw: RawAccess, metadata: EntityMetadata, row: ObjectLiteral): Promise<RawRow> {
  const result = await facts.dataSource.createQueryBuilder().insert().into(metadata.target as EntityTarget<ObjectLiteral>).values(row).execute();
  const identifier = result.identifiers[0] ?? {};
  const key: RawRow = {};
  for (const column of metadata.primaryColumns) key[column.databaseName] = column.getEntityValue({ ...row, ...identifier });
  const stored = await raw.rowByKey(metadata, key, undefined);
  if (!stored) throw new Error(`the new ${metadata.name} row could not be read back`);
  return stored;
}

/**
 * A row of a shared entity created for this run (removed at the end), or the reason
 * there can be none. One per entity.
 */
export async function sharedRow(ctx: ProbeContext, metadata: EntityMetadata, unavailable: Map<EntityMetadata, string>, path: EntityMetadata[] = []): Promise<RawRow | string> {
  const existing = ctx.shared.get(metadata) ?? unavailable.get(metadata);
  if (existing) return existing;
  if (path.includes(metadata)) return 'its required relations form a cycle';
  const made = fillRow(metadata, ctx.facts, 'shared');
  let result: RawRow | string;
  if (typeof made === 'string') {
    result = made;
  } else {
    result = '';
    for (const relation of requiredRelations(metadata)) {
      const target = relation.inverseEntityMetadata;
      if (ctx.facts.scoped.has(target) || target === ctx.facts.tenantMetadata) {
        result = `its required relation ${relation.propertyPath} points at ${target.name}, which belongs to a tenant`;
        break;
      }
      const related = await sharedRow(ctx, target, unavailable, [...path, metadata]);
      if (typeof related === 'string') {
        result = `its required relation ${relation.propertyPath} needs a ${target.name}, and ${related}`;
        break;
      }
      deepMerge(made, { [relation.propertyName]: whereOf(target, related) });
    }
    if (result === '') {
      try {
        result = await insertShared(ctx.facts, ctx.raw, metadata, made);
      } catch (error) {
        result = `inserting a ${metadata.name} row failed: ${describeError(error)}`;
      }
    }
  }
  if (typeof result === 'string') unavailable.set(metadata, result);
  else ctx.shared.set(metadata, result);
  return result;
}

/** Creates the two tenants of the run: minimal rows of the tenant entity. */
export async function createTenants(facts: SchemaFacts, raw: RawAccess): Promise<[RawRow, RawRow]> {
  const rows: RawRow[] = [];
  for (const label of labels) {
    const row = fillRow(facts.tenantMetadata, facts, `tenant-${label}`);
    if (typeof row === 'string' || requiredRelations(facts.tenantMetadata).length > 0) {
      throw new TenancyConfigError(
        `probeTenantIsolation() cannot create a ${facts.tenantMetadata.name}: ${typeof row === 'string' ? row : 'it has required relations'}. ` +
          'Create two tenants yourself and pass tenants: [idA, idB].',
        { entity: facts.tenantMetadata.name, operation: 'probeTenantIsolation' },
      );
    }
    rows.push(await insertShared(facts, raw, facts.tenantMetadata, row));
  }
  return [rows[0]!, rows[1]!];
}

/** Keys of the rows each scoped table already holds for the two tenants: the run leaves them alone. */
export async function snapshot(ctx: ProbeContext): Promise<Map<EntityMetadata, Record<TenantLabel, Set<string>>>> {
  const keys = new Map<EntityMetadata, Record<TenantLabel, Set<string>>>();
  for (const { metadata, column } of ctx.facts.scoped.values()) {
    const entry = { a: new Set<string>(), b: new Set<string>() };
    for (const label of labels) {
      for (const row of await ctx.raw.rowsOf(metadata, column, ctx.tenants[label])) entry[label].add(rawKey(metadata, row));
    }
    keys.set(metadata, entry);
  }
  return keys;
}

/** Reads what seeding wrote: each scoped entity's new rows per tenant. */
export async function collectSeeded(ctx: ProbeContext, before: Map<EntityMetadata, Record<TenantLabel, Set<string>>>): Promise<void> {
  for (const { metadata, column } of ctx.facts.scoped.values()) {
    const rows = { a: [] as RawRow[], b: [] as RawRow[] };
    for (const label of labels) {
      const old = before.get(metadata)?.[label];
      rows[label] = (await ctx.raw.rowsOf(metadata, column, ctx.tenants[label])).filter((r) => !old?.has(rawKey(metadata, r)));
    }
    ctx.rows.set(metadata, rows);
  }
}

/** Scoped entities ordered so that the targets of required relations come first; the rest with a reason. */
function seedOrder(facts: SchemaFacts): { order: EntityMetadata[]; blocked: Map<EntityMetadata, string> } {
  const pending = new Set(facts.scoped.keys());
  const order: EntityMetadata[] = [];
  let progressed = true;
  while (pending.size > 0 && progressed) {
    progressed = false;
    for (const metadata of pending) {
      const waits = requiredRelations(metadata).some((r) => r.inverseEntityMetadata !== metadata && pending.has(r.inverseEntityMetadata));
      if (!waits) {
        order.push(metadata);
        pending.delete(metadata);
        progressed = true;
      }
    }
  }
  return { order, blocked: new Map([...pending].map((m) => [m, 'its required relations to other tenant-scoped entities form a cycle; pass seed'])) };
}

/**
 * The default seed: for each tenant, two minimal rows of every scoped entity,
 * written through that tenant's manager (`save`, so trees and subscribers run).
 * Required columns get made-up values, required relations rows of the same tenant
 * (or a shared row created for the run). Entities that cannot be filled are
 * reported and skipped.
 */
export async function defaultSeed(
  ctx: ProbeContext,
  before: Map<EntityMetadata, Record<TenantLabel, Set<string>>>,
  unavailable: Map<EntityMetadata, string>,
): Promise<Map<EntityMetadata, string>> {
  const { order, blocked } = seedOrder(ctx.facts);
  const failed = new Map(blocked);
  const seeded = new Map<EntityMetadata, Record<TenantLabel, RawRow[]>>();
  for (const metadata of order) {
    const scoped = ctx.facts.scoped.get(metadata)!;
    const made: Record<TenantLabel, RawRow[]> = { a: [], b: [] };
    try {
      for (const label of labels) {
        const tenantId: TenantId = ctx.tenants[label];
        const em = ctx.manager(label);
        for (let i = 0; i < ROWS_PER_TENANT; i++) {
          const row = fillRow(metadata, ctx.facts, `${label}${i}`);
          if (typeof row === 'string') throw new Skip(row);
          // The tenant is named explicitly: the row is the tenant's own either way, and a stand-in manager needs it.
          deepMerge(row, valueMap(scoped.column, tenantId));
          for (const relation of requiredRelations(metadata)) {
            const target = relation.inverseEntityMetadata;
            let related: RawRow | string | undefined;
            if (target === ctx.facts.tenantMetadata) {
              deepMerge(row, { [relation.propertyName]: valueMap(target.primaryColumns[0]!, tenantId) });
              continue;
            }
            if (target === metadata) {
              related = `its required relation ${relation.propertyPath} points at ${target.name} itself (a first row cannot have one)`;
            } else if (ctx.facts.scoped.has(target)) {
              related = seeded.get(target)?.[label][0];
              related ??= `its required relation ${relation.propertyPath} needs a ${target.name} of the same tenant, and ${failed.get(target) ?? 'there is none'}`;
            } else {
              related = await sharedRow(ctx, target, unavailable);
              if (typeof related === 'string') related = `its required relation ${relation.propertyPath} needs a ${target.name}: ${related}`;
            }
            if (typeof related === 'string') throw new Skip(related);
            deepMerge(row, { [relation.propertyName]: whereOf(target, related) });
          }
          await em.save(metadata.target as EntityTarget<ObjectLiteral>, em.create(metadata.target as EntityTarget<ObjectLiteral>, row));
        }
        const old = before.get(metadata)?.[label];
        made[label] = (await ctx.raw.rowsOf(metadata, scoped.column, tenantId)).filter((r) => !old?.has(rawKey(metadata, r)));
      }
      seeded.set(metadata, made);
    } catch (error) {
      failed.set(metadata, error instanceof Skip ? error.message : `seeding it through the tenant manager failed: ${describeError(error)}`);
    }
  }
  return failed;
}

class Skip extends Error {}
