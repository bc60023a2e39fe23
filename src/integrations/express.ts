/**
 * `typeorm-tenancy/express`: binds the tenant of each Express 5 request with
 * `tenancy.run()`, so `tenancy.current()`, `dataSource.manager` and
 * `dataSource.getRepository()` (under `defaultManager: 'context'`) are scoped to
 * it in every handler, across every `await`.
 *
 * @example
 * import express from 'express';
 * import { byHostname, tenancyMiddleware, tenantManager } from 'typeorm-tenancy/express';
 *
 * const app = express();
 * app.use(tenancyMiddleware(tenancy, { resolve: byHostname({ 'acme.localhost': 1, 'globex.localhost': 2 }) }));
 * app.get('/posts', async (req, res) => {
 *   res.json(await dataSource.getRepository(Post).find()); // WHERE "Post"."tenant_id" = ?
 * });
 * @module
 */
import type { ServerResponse } from 'node:http';
import type { Tenancy } from '../tenancy.js';
import { findRequestTenant, rememberTenantManager, type RequestTenantOptions } from './request-tenant.js';
import type { TenantRequest } from './tenant-resolver.js';

export { byHeader, byHostname, bySubdomain, withDefault } from './tenant-resolver.js';
export type { ByHostnameOptions, TenantLookup, TenantRequest, TenantResolution, TenantResolver } from './tenant-resolver.js';
export { tenantManager } from './request-tenant.js';
export type { RequestTenantOptions } from './request-tenant.js';

/** Express's `next`: continue with the next handler, or with an error. */
export type NextFunction = (error?: unknown) => void;

/** A middleware function, typed structurally so that no Express types are needed; `app.use()` accepts it. */
export type TenancyRequestHandler<Req = TenantRequest, Res = ServerResponse> = (request: Req, response: Res, next: NextFunction) => void;

/** Options of `tenancyMiddleware()`. */
export interface TenancyMiddlewareOptions<Req extends TenantRequest = TenantRequest, Res extends ServerResponse = ServerResponse>
  extends RequestTenantOptions<Req> {
  /**
   * Answers a request that names no tenant (the resolver returned `undefined`).
   * Defaults to `400` with `{"error":"Bad Request"}`.
   */
  onMissing?: TenancyRequestHandler<Req, Res>;
  /**
   * Answers a request whose tenant does not exist (the resolver returned `null`,
   * an id the tenant key cannot hold, or `exists` said no). Defaults to `404` with
   * `{"error":"Not Found"}`: the same for every unknown tenant, naming none.
   */
  onUnknown?: TenancyRequestHandler<Req, Res>;
}

function respond(status: number, error: string): TenancyRequestHandler<TenantRequest, ServerResponse> {
  const body = JSON.stringify({ error });
  return (_request, response) => {
    response.statusCode = status;
    response.setHeader('Content-Type', 'application/json; charset=utf-8');
    response.setHeader('Content-Length', Buffer.byteLength(body));
    response.end(body);
  };
}

const badRequest = respond(400, 'Bad Request');
const notFound = respond(404, 'Not Found');

/**
 * An Express middleware that finds each request's tenant with `resolve` and runs
 * the rest of the request inside `tenancy.run(tenant, ...)`: every later
 * middleware and handler — async ones included, across every `await`, timer and
 * stream callback — sees that tenant through `tenancy.current()`, the
 * DataSource's default manager and its repositories (`defaultManager: 'context'`),
 * and `tenantManager(req)`. Mount it before the routes that use tenant data.
 *
 * A request without a tenant gets 400 and one with an unknown tenant 404 (see
 * `onMissing`, `onUnknown`); neither response says which tenants exist. An error
 * thrown by the resolver or `exists` goes to Express's error handling (`next(error)`).
 *
 * @example
 * app.use(tenancyMiddleware(tenancy, {
 *   resolve: byHeader('x-tenant-id'),
 *   exists: (id) => dataSource.manager.existsBy(Tenant, { id: Number(id) }),
 *   onMissing: (req, res: express.Response) => res.status(401).json({ error: 'sign in' }),
 * }));
 * app.get('/posts', async (req, res) => res.json(await tenantManager(req).find(Post)));
 * // GET /posts with "x-tenant-id: 2" (PostgreSQL):
 * // SELECT ... FROM "posts" "Post" WHERE ( "Post"."tenant_id" = $1 )   -- $1 = 2
 */
export function tenancyMiddleware<Req extends TenantRequest = TenantRequest, Res extends ServerResponse = ServerResponse>(
  tenancy: Tenancy,
  options: TenancyMiddlewareOptions<Req, Res>,
): TenancyRequestHandler<Req, Res> {
  const onMissing = options.onMissing ?? badRequest;
  const onUnknown = options.onUnknown ?? notFound;
  return (request, response, next) => {
    findRequestTenant(tenancy, request, options).then((found) => {
      try {
        if (found.status === 'found') {
          // Everything `next()` starts — later middleware, the handler, what they await — runs in this context.
          tenancy.run(found.tenantId, () => {
            rememberTenantManager(request, tenancy.current());
            next();
          });
        } else {
          (found.status === 'missing' ? onMissing : onUnknown)(request, response, next);
        }
      } catch (error) {
        next(error);
      }
    }, next);
  };
}
