import { MissingTenantError } from '../errors.js';
import type { TenantEntityManager } from '../manager/tenant-entity-manager.js';
import type { TenantId, TenantRef } from '../scoping/tenant-key.js';
import type { Tenancy } from '../tenancy.js';
import type { TenantResolver } from './tenant-resolver.js';

/** How a request's tenant is found: shared by the Express and NestJS integrations. */
export interface RequestTenantOptions<Req> {
  /** Finds the tenant of a request: `byHostname(...)`, `byHeader(...)`, `bySubdomain(...)` or your own. */
  resolve: TenantResolver<Req>;
  /**
   * Says whether a resolved tenant id exists; `false` makes it an unknown tenant
   * (404 by default). Called with the canonical id, after the resolver. Without it,
   * any well-formed id the resolver returns is bound (resolvers that look tenants up
   * in a table or the database already answer `null` for unknown ones).
   *
   * @example
   * exists: (id) => dataSource.manager.existsBy(Tenant, { id })
   */
  exists?: (tenantId: TenantId) => boolean | PromiseLike<boolean>;
}

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
  const resolved = await options.resolve(request);
  if (resolved === undefined) return MISSING;
  if (resolved === null) return UNKNOWN;
  const tenantId = canonical(tenancy, resolved);
  if (tenantId === undefined) return UNKNOWN;
  if (options.exists && !(await options.exists(tenantId))) return UNKNOWN;
  return { status: 'found', tenantId };
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
