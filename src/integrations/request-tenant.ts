import { MissingTenantError } from '../errors.js';
import type { TenantEntityManager } from '../manager/tenant-entity-manager.js';
import type { TenantId, TenantRef } from '../scoping/tenant-key.js';
import type { Tenancy } from '../tenancy.js';
import type { TenantResolution, TenantResolver } from './tenant-resolver.js';

/** How a request's tenant is found: shared by the Express and NestJS integrations. */
export interface RequestTenantOptions<Req> {
  /** Finds the tenant of a request: `byHostname(...)`, `byHeader(...)`, `bySubdomain(...)` or your own. */
  resolve: TenantResolver<Req>;
  /**
   * Whether a resolved tenant exists, checked after the resolver with the canonical
   * id; a tenant that does not is an unknown tenant (404 by default), never bound.
   * - omitted or `true`: `tenancy.tenants.exists(id, { maxAge: 5000 })` — a primary-key
   *   lookup in the tenant table on the main DataSource; a tenant found is trusted for
   *   5 s (per process, up to 10,000 tenants), a tenant removed with
   *   `tenancy.tenants.remove()` is refused at once, one deleted otherwise within 5 s.
   * - `{ maxAge }`: the same with another trust period in ms (`0`: look up every request).
   * - a function: your own check (sync or async).
   * - `false`: no check; any well-formed id is bound. Only for resolvers that already
   *   answer `null` for unknown tenants (a lookup in the tenant table): otherwise an
   *   unknown tenant reads empty results and its writes fail on the foreign key.
   *
   * @example
   * exists: (id) => tenantCache.has(id)
   */
  exists?: boolean | { readonly maxAge: number } | ((tenantId: TenantId) => boolean | PromiseLike<boolean>);
}

/** How long a tenant found by the default existence check is trusted, in ms. */
const DEFAULT_EXISTS_MAX_AGE = 5_000;

/** The outcome of finding a request's tenant. */
export type RequestTenant = { readonly status: 'missing' } | { readonly status: 'unknown' } | { readonly status: 'found'; readonly tenantId: TenantId };

const MISSING: RequestTenant = { status: 'missing' };
const UNKNOWN: RequestTenant = { status: 'unknown' };

/**
 * Runs the resolver and the `exists` check for one request. An id the tenant key
 * cannot hold (`'abc'` for an integer key) is unknown, never "no filter"; request
 * text that is a decimal integer also matches an integer key.
 */
export async function findRequestTenant<Req>(tenancy: Tenancy, request: Req, options: RequestTenantOptions<Req>): Promise<RequestTenant> {
  return checkTenant(tenancy, await options.resolve(request), options.exists);
}

/** What a resolver answered, made canonical and checked with `exists`. */
export async function checkTenant(tenancy: Tenancy, resolved: TenantResolution, check: RequestTenantOptions<never>['exists']): Promise<RequestTenant> {
  if (resolved === undefined) return MISSING;
  if (resolved === null) return UNKNOWN;
  const tenantId = canonical(tenancy, resolved);
  if (tenantId === undefined) return UNKNOWN;
  if (!(await exists(tenancy, tenantId, check))) return UNKNOWN;
  return { status: 'found', tenantId };
}

function exists(tenancy: Tenancy, tenantId: TenantId, check: RequestTenantOptions<never>['exists']): boolean | PromiseLike<boolean> {
  if (check === false) return true;
  if (typeof check === 'function') return check(tenantId);
  return tenancy.tenants.exists(tenantId, { maxAge: check === undefined || check === true ? DEFAULT_EXISTS_MAX_AGE : check.maxAge });
}

function canonical(tenancy: Tenancy, id: TenantId): TenantId | undefined {
  const candidates: TenantRef[] = [id];
  if (typeof id === 'string' && /^-?[0-9]{1,16}$/.test(id) && Number.isSafeInteger(Number(id))) candidates.push(Number(id));
  for (const candidate of candidates) {
    try {
      return tenancy.manager(candidate).tenantId;
    } catch (error) {
      if (!(error instanceof MissingTenantError)) throw error;
    }
  }
  return undefined;
}

const requestManagers = new WeakMap<object, TenantEntityManager>();

/** @internal Records the manager bound for a request, for `tenantManager(req)`. */
export function rememberTenantManager(request: object, manager: TenantEntityManager): void {
  requestManagers.set(request, manager);
}

/**
 * The tenant manager the tenancy middleware bound for this request: the same one
 * `tenancy.current()` returns while the request is handled. For code that prefers
 * passing the manager explicitly. `MissingTenantError` when no tenancy middleware
 * ran for this request.
 *
 * @example
 * app.get('/posts', async (req, res) => {
 *   res.json(await tenantManager(req).find(Post)); // WHERE "Post"."tenant_id" = ?
 * });
 */
export function tenantManager(request: object): TenantEntityManager {
  const manager = requestManagers.get(request);
  if (!manager) {
    throw new MissingTenantError(
      'tenantManager(req) found no tenant for this request: the tenancy middleware did not run for it. ' +
        'Mount tenancyMiddleware(tenancy, { resolve }) (Express) or import TenancyModule.forRoot(...) (NestJS) before this route.',
      { operation: 'tenantManager' },
    );
  }
  return manager;
}
