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
}

export type ResolvedScopedOptions = Required<TenantScopedOptions>;

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
  });
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
