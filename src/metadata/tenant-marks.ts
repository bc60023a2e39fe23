import type { OnDeleteType } from 'typeorm/metadata/types/OnDeleteType.js';

/** Options of `@TenantScoped()`. */
export interface TenantScopedOptions {
  /** Database column holding the tenant id. Defaults to `'tenant_id'`. */
  column?: string;
  /** Entity property mapped to that column. Defaults to `'tenantId'`. */
  property?: string;
  /** `ON DELETE` action of the foreign key to the tenant table. Defaults to `'CASCADE'`. */
  onDelete?: OnDeleteType;
  /** Create an index on the tenant column. Defaults to `true`. */
  index?: boolean;
  /**
   * Tenant-aware keys, so the database itself refuses cross-tenant references:
   * `true` adds `UNIQUE (tenant_id, id)` and turns each relation to another scoped
   * entity into a composite foreign key `(tenant_id, x_id) -> (tenant_id, id)`;
   * `'primary'` makes the primary key `(id, tenant_id)` instead (the Citus layout).
   * Defaults to the Tenancy option `compositeKeys`, which defaults to `false`.
   */
  compositeKeys?: CompositeKeys;
}

/** See `TenantScopedOptions.compositeKeys`. */
export type CompositeKeys = boolean | 'primary';

/** The Tenancy option `compositeKeys` when it is not given. */
export const defaultCompositeKeys: CompositeKeys = false;

export type ResolvedScopedOptions = Required<Omit<TenantScopedOptions, 'compositeKeys'>> & { compositeKeys: CompositeKeys | undefined };

// Class markers only: which classes carry which decorator. Which tenant entity a
// scoped class belongs to is decided per DataSource by `Tenancy`, not here.
const tenantEntities = new WeakSet<Function>();
const scopedEntities = new WeakMap<Function, ResolvedScopedOptions>();

export function markTenantEntity(target: Function): void {
  tenantEntities.add(target);
}

export function markScopedEntity(target: Function, options: TenantScopedOptions): void {
  scopedEntities.set(target, {
    column: options.column ?? 'tenant_id',
    property: options.property ?? 'tenantId',
    onDelete: options.onDelete ?? 'CASCADE',
    index: options.index ?? true,
    compositeKeys: options.compositeKeys,
  });
}

// Per-tenant unique column sets declared with @TenantUnique().
const tenantUniques = new WeakMap<Function, Array<{ columns: string[]; name?: string }>>();

export function markTenantUnique(target: Function, columns: string[], name?: string): void {
  tenantUniques.set(target, [...(tenantUniques.get(target) ?? []), { columns, name }]);
}

export function tenantUniquesOf(target: Function): ReadonlyArray<{ columns: string[]; name?: string }> {
  return tenantUniques.get(target) ?? [];
}

export function isTenantEntityClass(target: unknown): target is Function {
  return typeof target === 'function' && tenantEntities.has(target);
}

/** The scoped options of a class or of its nearest decorated ancestor. */
export function scopedOptionsOf(target: unknown): ResolvedScopedOptions | undefined {
  for (let c = target; typeof c === 'function' && c !== Function.prototype; c = Object.getPrototypeOf(c)) {
    const found = scopedEntities.get(c as Function);
    if (found) return found;
  }
  return undefined;
}
