import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { RelationMetadata } from 'typeorm/metadata/RelationMetadata.js';
import type { TenantId } from '../scoping/tenant-key.js';
import { describeError, type ProbeContext } from './context.js';
import type { RawRow } from './raw.js';
import { sharedRow } from './seed.js';

/**
 * A relation the probes load from tenant a's side: from a scoped entity (its rows of
 * tenant a) or from a shared entity (a row created for the run) to a scoped entity.
 */
export interface RelationSubject {
  readonly metadata: EntityMetadata;
  readonly relation: RelationMetadata;
  /** The rows the relation is loaded from: tenant a's rows, or the shared row. */
  readonly mainRows: RawRow[];
  /** True when `metadata` is shared. */
  readonly shared: boolean;
}

type Undo = () => Promise<void>;

/**
 * Plants a cross-tenant reference with raw SQL, so that loading the relation from
 * tenant a's side would reach a row of tenant b if scoping missed it (the library
 * refuses to write such references; an old row, a migration or raw SQL can). Returns
 * how to take it back, or why it cannot be planted.
 */
async function plant(ctx: ProbeContext, subject: RelationSubject): Promise<Undo | string> {
  const { metadata, relation, mainRows } = subject;
  const target = relation.inverseEntityMetadata;
  const other = ctx.rows.get(target)!.b;
  const ownTenant: TenantId | undefined = subject.shared ? undefined : ctx.tenants.a;
  const tenantColumnOf = (m: EntityMetadata) => ctx.facts.scoped.get(m)?.column;
  const refuse = 'its foreign key includes the tenant column, so a reference cannot cross tenants';
  if (relation.isManyToOne || relation.isOneToOneOwner) {
    // One of tenant a's rows (the last, if there are two) points at tenant b's first row.
    const carrier = mainRows.at(-1)!;
    if (relation.joinColumns.some((c) => c === tenantColumnOf(metadata))) return refuse;
    const values = Object.fromEntries(relation.joinColumns.map((c) => [c.databaseName, other[0]![c.referencedColumn!.databaseName]]));
    const previous = Object.fromEntries(relation.joinColumns.map((c) => [c.databaseName, carrier[c.databaseName]]));
    await ctx.raw.update(metadata, carrier, values, ownTenant);
    return () => ctx.raw.update(metadata, carrier, previous, ownTenant);
  }
  if (relation.isOneToMany || relation.isOneToOneNotOwner) {
    // One of tenant b's rows (the last) points back at tenant a's first row.
    const owner = relation.inverseRelation;
    if (!owner) return 'it has no owning side';
    const carrier = other.at(-1)!;
    if (owner.joinColumns.some((c) => c === tenantColumnOf(target))) return refuse;
    const values = Object.fromEntries(owner.joinColumns.map((c) => [c.databaseName, mainRows[0]![c.referencedColumn!.databaseName]]));
    const previous = Object.fromEntries(owner.joinColumns.map((c) => [c.databaseName, carrier[c.databaseName]]));
    await ctx.raw.update(target, carrier, values, ctx.tenants.b);
    return () => ctx.raw.update(target, carrier, previous, ctx.tenants.b);
  }
  if (relation.isManyToMany) {
    // A junction row links tenant a's first row with tenant b's first row.
    const owning = relation.isOwning ? relation : relation.inverseRelation;
    const junction = owning?.junctionEntityMetadata;
    if (!owning || !junction) return 'it has no junction table';
    const [ownerRow, inverseRow] = relation.isOwning ? [mainRows[0]!, other[0]!] : [other[0]!, mainRows[0]!];
    const values = Object.fromEntries([
      ...owning.joinColumns.map((c) => [c.databaseName, ownerRow[c.referencedColumn!.databaseName]]),
      ...owning.inverseJoinColumns.map((c) => [c.databaseName, inverseRow[c.referencedColumn!.databaseName]]),
    ]);
    await ctx.raw.insert(junction, values, undefined);
    return () => ctx.raw.deleteWhere(junction, values, undefined);
  }
  return 'unsupported relation type';
}

function isEntityTable(metadata: EntityMetadata): boolean {
  return metadata.tableType === 'regular' || metadata.tableType === 'closure' || metadata.tableType === 'entity-child';
}

/**
 * The relations to probe, each with a cross-tenant reference planted. Relations into
 * scoped entities without rows of both tenants, and references that cannot be
 * planted, are reported as not probed.
 */
export async function plantReferences(
  ctx: ProbeContext,
  probed: ReadonlySet<EntityMetadata>,
  unavailable: Map<EntityMetadata, string>,
  undo: Undo[],
): Promise<RelationSubject[]> {
  const subjects: RelationSubject[] = [];
  const hasRows = (m: EntityMetadata) => {
    const rows = ctx.rows.get(m);
    return !!rows && rows.a.length > 0 && rows.b.length > 0;
  };
  for (const metadata of ctx.facts.dataSource.entityMetadatas) {
    const scoped = ctx.facts.scoped.has(metadata);
    if ((scoped && !probed.has(metadata)) || metadata === ctx.facts.tenantMetadata || !isEntityTable(metadata)) continue;
    for (const relation of metadata.relations) {
      const target = relation.inverseEntityMetadata;
      // From a scoped entity: its relations to any scoped entity; from a shared one: relations to probed entities.
      if (!ctx.facts.scoped.has(target) || (!scoped && !probed.has(target))) continue;
      const name = `${metadata.name}.${relation.propertyPath}`;
      if (!hasRows(target) || (scoped && !hasRows(metadata))) continue; // the entity itself is reported as not probed
      let mainRows: RawRow[];
      if (scoped) {
        mainRows = ctx.rows.get(metadata)!.a;
      } else {
        const row = await sharedRow(ctx, metadata, unavailable);
        if (typeof row === 'string') {
          ctx.skip(metadata.name, `no ${metadata.name} row to load it from: ${row}`, `relation ${name}`);
          continue;
        }
        mainRows = [row];
      }
      const subject: RelationSubject = { metadata, relation, mainRows, shared: !scoped };
      try {
        const planted = await plant(ctx, subject);
        if (typeof planted === 'string') {
          ctx.skip(metadata.name, `no cross-tenant reference can be planted: ${planted}`, `relation ${name}`);
          continue;
        }
        undo.push(planted);
      } catch (error) {
        ctx.skip(metadata.name, `the database refused a cross-tenant reference (${describeError(error)})`, `relation ${name}`);
        continue;
      }
      subjects.push(subject);
    }
  }
  return subjects;
}
