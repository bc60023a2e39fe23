import type { ScopeRegistry } from './scope-registry.js';
import type { TenantId } from './tenant-key.js';

/**
 * What a query builder, runner or manager carries: which tenant, and whether
 * scoping applies. Immutable; one per manager (two for its bypass sibling), so
 * overlapping requests can never see each other's tenant.
 */
export interface ScopeContext {
  readonly registry: ScopeRegistry;
  /** `undefined` means the tenant is unknown: any tenant-scoped alias is refused. */
  readonly tenantId: TenantId | undefined;
  /** `false` only for the explicit `{ safe: false }` bypass. */
  readonly safe: boolean;
}

export const SCOPE = Symbol('typeorm-tenancy.scope');
/** A write builder's reference plan for its current execution (scoped-query-builders.ts). */
export const WRITE_PLAN = Symbol('typeorm-tenancy.writePlan');

/** Objects (query builders) that carry a scope. */
export interface ScopeCarrier {
  [SCOPE]?: ScopeContext;
  [WRITE_PLAN]?: unknown;
}

export function scopeOf(value: unknown): ScopeContext | undefined {
  return value !== null && typeof value === 'object' ? (value as ScopeCarrier)[SCOPE] : undefined;
}
