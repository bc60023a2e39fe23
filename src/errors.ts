/**
 * Every error typeorm-tenancy throws is a `TenancyError`. Each carries a stable
 * `code`, the entity and operation involved where known, and a message that ends
 * with how to fix the problem.
 */
export interface TenancyErrorDetails {
  /** Entity name the error is about, when there is one. */
  entity?: string;
  /** The call or operation that was refused (`find`, `update`, `query`, ...). */
  operation?: string;
  /** The tenant the manager is bound to, when there is one. */
  tenant?: unknown;
  /** The underlying error. */
  cause?: unknown;
}

/** Base class of every error thrown by typeorm-tenancy. */
export abstract class TenancyError extends Error {
  /** Stable machine-readable code, e.g. `TENANCY_MISSING_TENANT`. */
  abstract readonly code: string;
  readonly entity?: string;
  readonly operation?: string;
  readonly tenant?: unknown;

  constructor(message: string, details: TenancyErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.entity = details.entity;
    this.operation = details.operation;
    this.tenant = details.tenant;
  }
}

/** No tenant is bound, or the given tenant is empty or of the wrong type. Never means "no filter". */
export class MissingTenantError extends TenancyError {
  readonly code = 'TENANCY_MISSING_TENANT';
}

/**
 * A tenant id that is well formed but names no tenant: no row of the tenant entity
 * has it (the integrations' existence check, `tenants.exists()`).
 */
export class UnknownTenantError extends TenancyError {
  readonly code = 'TENANCY_UNKNOWN_TENANT';
}

/** A write carries or sets another tenant's id. Nothing was written. */
export class TenantMismatchError extends TenancyError {
  readonly code = 'TENANCY_TENANT_MISMATCH';
}

/** Raw SQL, or a construct the library cannot scope, was used in safe mode. Nothing was run. */
export class UnsafeQueryError extends TenancyError {
  readonly code = 'TENANCY_UNSAFE_QUERY';
}

/** Decorators or options are wrong: the message names the entity and the fix. */
export class TenancyConfigError extends TenancyError {
  readonly code = 'TENANCY_CONFIG';
}

/** The database that holds a tenant (its own database, or its shard) cannot be reached. Other tenants keep working. */
export class StorageUnavailableError extends TenancyError {
  readonly code = 'TENANCY_STORAGE_UNAVAILABLE';
}

/**
 * `tenants.create()` was about to use a storage (schema, database, database file) that
 * already exists or already holds a tenant: two tenants would share it. Nothing was
 * created and the tenant row was not kept.
 */
export class StorageConflictError extends TenancyError {
  readonly code = 'TENANCY_STORAGE_CONFLICT';
}
