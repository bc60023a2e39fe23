import type { MetadataArgsStorage } from 'typeorm/metadata-args/MetadataArgsStorage.js';
import type { RelationMetadataArgs } from 'typeorm/metadata-args/RelationMetadataArgs.js';
import { TenancyConfigError } from '../errors.js';
import { type CompositeKeys, type ResolvedScopedOptions, scopedOptionsOf, tenantUniquesOf } from './tenant-marks.js';

// Tenant-aware keys, added to a Tenancy's copy of TypeORM's decorator args before its metadata is
// built (like the tenant column itself): per-tenant uniques, UNIQUE (tenant_id, id) or the primary
// key (id, tenant_id), and composite foreign keys between scoped entities. Entries are replaced in
// the copy, never edited: the global args, and so every other DataSource, stay as declared.

/** What the dialect's foreign keys can do, for relations whose delete/update action nulls the reference. */
export interface KeyDialect {
  /**
   * A relation can keep its single-column `SET NULL` key beside a composite NO ACTION key: the
   * NO ACTION key is checked at the end of the statement, after the other key nulled the reference
   * (PostgreSQL). MySQL / MariaDB check it row by row, before; SQLite would do it, but TypeORM
   * 1.1.1 reads the pair back under one name, so the schema diff never settles.
   */
  readonly nullingKeyBesideComposite: boolean;
}

function lineage(target: Function): Function[] {
  const chain: Function[] = [];
  for (let c: unknown = target; typeof c === 'function' && c !== Function.prototype; c = Object.getPrototypeOf(c)) chain.push(c as Function);
  return chain;
}

function primaryProperties(storage: MetadataArgsStorage, target: Function): string[] {
  const classes = lineage(target);
  return storage.columns.filter((c) => classes.includes(c.target as Function) && c.options.primary).map((c) => c.propertyName);
}

/** UNIQUE (tenant_id, id) — what a composite foreign key into this table references — once per class. */
function addTenantKeyUnique(storage: MetadataArgsStorage, target: Function, options: ResolvedScopedOptions): void {
  const primaries = primaryProperties(storage, target);
  if (primaries.includes(options.property)) return; // the primary key already is (id, tenant_id)
  const others = primaries.filter((p) => p !== options.property);
  if (others.length === 0) return;
  const columns = [options.property, ...others];
  if (storage.uniques.some((u) => u.target === target && Array.isArray(u.columns) && u.columns.join() === columns.join())) return;
  storage.uniques.push({ target, columns });
}

/** `@TenantUnique([...])` becomes UNIQUE (tenant_id, ...). */
export function injectTenantUniques(storage: MetadataArgsStorage, target: Function, options: ResolvedScopedOptions): void {
  for (const unique of tenantUniquesOf(target)) {
    storage.uniques.push({ target, name: unique.name, columns: [options.property, ...unique.columns] });
  }
}

/** `compositeKeys: 'primary'`: the tenant column joins the primary key, (id, tenant_id). */
export function injectTenantPrimary(storage: MetadataArgsStorage, target: Function, options: ResolvedScopedOptions): void {
  const index = storage.columns.findIndex((c) => c.target === target && c.propertyName === options.property);
  const column = storage.columns[index];
  if (column) storage.columns[index] = { ...column, options: { ...column.options, primary: true } };
}

const nulling = new Set(['SET NULL', 'SET DEFAULT']);

/** A relation whose delete or update action would set its columns — all of them, tenant_id too — to NULL / DEFAULT. */
function nullsReference(relation: RelationMetadataArgs): boolean {
  return nulling.has(relation.options.onDelete ?? '') || nulling.has(relation.options.onUpdate ?? '');
}

/**
 * Composite foreign keys for the relations of one scoped class. Each many-to-one / owning
 * one-to-one relation to another scoped entity gets `(tenant_id, x_id) -> (tenant_id, id)` instead
 * of its single-column key, so the database refuses a cross-tenant reference from any client:
 * when the class's mode (`mode`) is on, and always when the related primary key includes the tenant
 * column (a single-column key could not reference it). The relation keeps one join column,
 * referencing the related id (not `tenant_id`, which is the row's own tenant column).
 *
 * A relation with `onDelete` / `onUpdate` `'SET NULL'` (or `'SET DEFAULT'`) keeps TypeORM's
 * single-column key with that action, since a composite one would null `tenant_id` too. On
 * PostgreSQL a composite NO ACTION key is added beside it; elsewhere (SQLite, MySQL, MariaDB) that
 * relation's tenant is checked by the app before each write, not by the database.
 */
export function injectCompositeKeys(storage: MetadataArgsStorage, target: Function, options: ResolvedScopedOptions, mode: CompositeKeys, dialect: KeyDialect): void {
  for (const [relationIndex, relation] of storage.relations.entries()) {
    if (relation.target !== target || (relation.relationType !== 'many-to-one' && relation.relationType !== 'one-to-one')) continue;
    const joins = storage.joinColumns.filter((j) => j.target === target && j.propertyName === relation.propertyName);
    if (relation.relationType === 'one-to-one' && joins.length === 0) continue; // inverse side
    const related = typeof relation.type === 'function' ? (relation.type as () => unknown)() : undefined;
    const relatedOptions = typeof related === 'function' ? scopedOptionsOf(related) : undefined;
    if (!relatedOptions || typeof related !== 'function') continue;
    const relatedPrimaries = primaryProperties(storage, related);
    const tenantInPrimary = relatedPrimaries.includes(relatedOptions.property);
    if (!mode && !tenantInPrimary) continue;
    if (joins.length > 1) {
      throw new TenancyConfigError(
        `${target.name}.${relation.propertyName} already has a composite join column; compositeKeys cannot add the tenant to it. ` +
          'Use a single-column relation, or turn compositeKeys off for this entity.',
        { entity: target.name },
      );
    }
    const join = joins[0];
    const referenced = join?.referencedColumnName ?? relatedPrimaries.find((p) => p !== relatedOptions.property);
    if (!referenced) continue;
    if (tenantInPrimary && nullsReference(relation)) {
      throw new TenancyConfigError(
        `${target.name}.${relation.propertyName} has onDelete/onUpdate '${relation.options.onDelete ?? relation.options.onUpdate}', but the primary key of ${related.name} ` +
          `includes ${relatedOptions.column} (compositeKeys: 'primary'): its composite foreign key would set ${options.column} to NULL too, and no single-column key can reference ${related.name}. ` +
          `Use onDelete 'CASCADE', 'RESTRICT' or 'NO ACTION', or compositeKeys: true for ${related.name}.`,
        { entity: target.name, operation: 'initialize' },
      );
    }
    // One join column, to the related id: TypeORM would otherwise add one per related primary column.
    const ownJoin = { target, propertyName: relation.propertyName, name: join?.name, referencedColumnName: referenced };
    if (join) storage.joinColumns[storage.joinColumns.indexOf(join)] = { ...join, referencedColumnName: referenced };
    else if (relation.relationType === 'many-to-one') storage.joinColumns.push(ownJoin);
    addTenantKeyUnique(storage, related, relatedOptions);
    const keepSingle = nullsReference(relation);
    if (keepSingle && !dialect.nullingKeyBesideComposite) continue; // TypeORM's own key with the action; checked app-side
    if (!keepSingle) storage.relations[relationIndex] = { ...relation, options: { ...relation.options, createForeignKeyConstraints: false } };
    storage.foreignKeys.push({
      target,
      type: () => related,
      columnNames: [options.property, join?.name ?? relation.propertyName],
      referencedColumnNames: [relatedOptions.property, referenced],
      onDelete: keepSingle ? 'NO ACTION' : relation.options.onDelete,
      onUpdate: keepSingle ? 'NO ACTION' : relation.options.onUpdate,
    });
  }
}
