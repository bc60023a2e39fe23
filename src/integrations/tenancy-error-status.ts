import { STATUS_CODES } from 'node:http';
import { MissingTenantError, StorageConflictError, StorageUnavailableError, type TenancyError, TenantMismatchError, UnknownTenantError } from '../errors.js';

/** The HTTP answer to a `TenancyError`: a status and its standard reason phrase, nothing else. */
export interface TenancyErrorStatus {
  readonly status: 400 | 403 | 404 | 409 | 500 | 503;
  /** The reason phrase of `status` (`'Not Found'`): the body never carries the error's message. */
  readonly message: string;
}

/**
 * The status a `TenancyError` is answered with, shared by the Express error
 * handler and the NestJS exception filter:
 * - `MissingTenantError` → 400: the request named no usable tenant (or the route runs without one);
 * - `UnknownTenantError` → 404: the same for every unknown tenant;
 * - `TenantMismatchError` → 403: the request tried to write another tenant's id or point
 *   at another tenant's row: an authorization refusal, not a conflict (409) to retry;
 * - `StorageUnavailableError` → 503: the tenant's database or shard is down, others work;
 * - `StorageConflictError` → 409: `tenants.create()` found its storage already taken;
 * - `UnsafeQueryError`, `TenancyConfigError` and any other → 500: the application's
 *   code or setup is wrong, not the request — logged, and answered like any server error.
 *
 * Messages name entities, operations and tenant ids: they are for logs, never for the body.
 */
export function tenancyErrorStatus(error: TenancyError): TenancyErrorStatus {
  const status =
    error instanceof MissingTenantError ? 400
    : error instanceof UnknownTenantError ? 404
    : error instanceof TenantMismatchError ? 403
    : error instanceof StorageUnavailableError ? 503
    : error instanceof StorageConflictError ? 409
    : 500;
  return { status, message: STATUS_CODES[status]! };
}
