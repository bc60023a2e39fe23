import { getMetadataArgsStorage } from 'typeorm';
import { TenancyConfigError } from '../errors.js';
import { type CompositeKeys, type ResolvedScopedOptions, scopedOptionsOf, tenantUniquesOf } from './tenant-marks.js';

// Tenant-aware keys, added to TypeORM's decorator args before metadata is built
// (like the tenant column itself): per-tenant uniques, UNIQUE (tenant_id, id),
// and composite foreign keys between scoped entities.

function lineage(target: Function): Function[] {
  const chain: Function[] = [];
  for (let c: unknown = target; typeof c === 'function' && c !== Function.prototype; c = Object.getPrototypeOf(c)) chain.push(c as Function);
  return chain;
}

function primaryProperties(target: Function): string[] {
  const classes = lineage(target);
  return getMetadataArgsStorage()
    .columns.filter((c) => classes.includes(c.target as Function) && c.options.primary)
    .map((c) => c.propertyName);
}

const keyUniques = new WeakSet<Function>();
const composed = new WeakSet<Function>();
const uniqued = new WeakSet<Function>();

/** UNIQUE (tenant_id, id) — what a composite foreign key into this table references. */
function addTenantKeyUnique(target: Function, options: ResolvedScopedOptions): void {
  if (keyUniques.has(target)) return;
  keyUniques.add(target);
  const primaries = primaryProperties(target).filter((p) => p !== options.property);
  if (primaries.length === 0) return;
  getMetadataArgsStorage().uniques.push({ target, columns: [options.property, ...primaries] });
}

/** `@TenantUnique([...])` becomes UNIQUE (tenant_id, ...). */
export function injectTenantUniques(target: Function, options: ResolvedScopedOptions): void {
  if (uniqued.has(target)) return;
  uniqued.add(target);
  for (const unique of tenantUniquesOf(target)) {
    getMetadataArgsStorage().uniques.push({ target, name: unique.name, columns: [options.property, ...unique.columns] });
  }
}

/**
 * Composite keys for one scoped class: `'primary'` makes the tenant column part
 * of the primary key; `true` adds UNIQUE (tenant_id, id). Either way each
 * many-to-one / owning one-to-one relation to another scoped entity gets a
 * composite foreign key `(tenant_id, x_id) -> (tenant_id, id)` instead of its
 * single-column one, so the database refuses a cross-tenant reference from any client.
 */
export function injectCompositeKeys(target: Function, options: ResolvedScopedOptions, mode: CompositeKeys): void {
  if (!mode || composed.has(target)) return;
  composed.add(target);
  const storage = getMetadataArgsStorage();
  if (mode === 'primary') {
    const column = storage.columns.find((c) => c.target === target && c.propertyName === options.property);
    if (column) column.options.primary = true;
    keyUniques.add(target);
  } else {
    addTenantKeyUnique(target, options);
  }
  for (const relation of storage.relations.filter((r) => r.target === target)) {
    if (relation.relationType !== 'many-to-one' && relation.relationType !== 'one-to-one') continue;
    const joins = storage.joinColumns.filter((j) => j.target === target && j.propertyName === relation.propertyName);
    if (relation.relationType === 'one-to-one' && joins.length === 0) continue; // inverse side
    const related = typeof relation.type === 'function' ? (relation.type as () => unknown)() : undefined;
    const relatedOptions = typeof related === 'function' ? scopedOptionsOf(related) : undefined;
    if (!relatedOptions || typeof related !== 'function') continue;
    if (joins.length > 1) {
      throw new TenancyConfigError(
        `${target.name}.${relation.propertyName} already has a composite join column; compositeKeys cannot add the tenant to it. ` +
          'Use a single-column relation, or turn compositeKeys off for this entity.',
        { entity: target.name },
      );
    }
    const join = joins[0];
    const referenced = join?.referencedColumnName ?? primaryProperties(related).find((p) => p !== relatedOptions.property);
    if (!referenced) continue;
    if (mode === true || !primaryProperties(related).includes(relatedOptions.property)) addTenantKeyUnique(related, relatedOptions);
    relation.options.createForeignKeyConstraints = false;
    storage.foreignKeys.push({
      target,
      type: () => related,
      columnNames: [options.property, join?.name ?? relation.propertyName],
      referencedColumnNames: [relatedOptions.property, referenced],
      onDelete: relation.options.onDelete,
      onUpdate: relation.options.onUpdate,
    });
  }
}
