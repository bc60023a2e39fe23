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
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TenancyError } from '../errors.js';
import type { Tenancy } from '../tenancy.js';
import { tenancyErrorStatus } from './tenancy-error-status.js';
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

function send(response: ServerResponse, status: number, error: string): void {
  const body = JSON.stringify({ error });
  response.statusCode = status;
  response.setHeader('Content-Type', 'application/json; charset=utf-8');
  response.setHeader('Content-Length', Buffer.byteLength(body));
  response.end(body);
}

const badRequest: TenancyRequestHandler = (_request, response) => send(response, 400, 'Bad Request');
const notFound: TenancyRequestHandler = (_request, response) => send(response, 404, 'Not Found');

/**
 * An Express middleware that finds each request's tenant with `resolve` and runs
 * the rest of the request inside `tenancy.run(tenant, ...)`: every later
 * middleware and handler — async ones included, across every `await`, timer and
 * stream callback — sees that tenant through `tenancy.current()`, the
 * DataSource's default manager and its repositories (`defaultManager: 'context'`),
 * and `tenantManager(req)`. Mount it before the routes that use tenant data.
 *
 * A request without a tenant gets 400 and one with an unknown tenant 404 (see
 * `onMissing`, `onUnknown`); neither response says which tenants exist. A resolved
 * tenant is checked against the tenant table by default (`exists`, cached for 5 s).
 * An error thrown by the resolver or `exists` goes to Express's error handling
 * (`next(error)`); mount `tenancyErrorHandler()` after the routes to answer the
 * `TenancyError`s handlers throw with their status.
 *
 * @example
 * app.use(tenancyMiddleware(tenancy, {
 *   resolve: byHeader('x-tenant-id'),
 *   onMissing: (req, res: express.Response) => res.status(401).json({ error: 'sign in' }),
 * }));
 * app.get('/posts', async (req, res) => res.json(await tenantManager(req).find(Post)));
 * app.use(tenancyErrorHandler());
 * // GET /posts with "x-tenant-id: 2" (PostgreSQL):
 * // ... WHERE EXISTS (SELECT 1 FROM "tenants" "Tenant" WHERE "Tenant"."id" = $1)   -- at most every 5 s
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

/** An Express error handler (four parameters: Express tells them apart by arity). */
export type TenancyErrorRequestHandler = (error: unknown, request: IncomingMessage, response: ServerResponse, next: NextFunction) => void;

/** Options of `tenancyErrorHandler()`. */
export interface TenancyErrorHandlerOptions {
  /**
   * Called with every `TenancyError` answered with a 5xx status (`UnsafeQueryError`,
   * `TenancyConfigError`, `StorageUnavailableError`): the bugs and outages to look at.
   * Defaults to `console.error(error)`.
   */
  log?: (error: TenancyError, request: IncomingMessage) => void;
}

/**
 * An Express error handler that answers `TenancyError`s with their HTTP status
 * instead of a plain 500, and passes every other error on (`next(error)`). Mount it
 * after the routes. The body is `{"error": <reason phrase>}`: the error's message —
 * entity, operation, tenant ids — never reaches the client.
 *
 * | error | status |
 * |---|---|
 * | `MissingTenantError` | 400 |
 * | `TenantMismatchError` | 403 |
 * | `UnknownTenantError` | 404 |
 * | `UnsafeQueryError`, `TenancyConfigError` | 500 (logged) |
 * | `StorageUnavailableError` | 503 (logged) |
 * | `StorageConflictError` | 409 |
 *
 * @example
 * app.use(tenancyMiddleware(tenancy, { resolve: byHeader('x-tenant-id') }));
 * app.post('/posts', async (req, res) => res.json(await tenantManager(req).save(Post, req.body)));
 * app.use(tenancyErrorHandler());
 * // POST /posts {"tenantId": 2} as tenant 1 → 403 {"error":"Forbidden"}
 */
export function tenancyErrorHandler(options: TenancyErrorHandlerOptions = {}): TenancyErrorRequestHandler {
  const log = options.log ?? ((error: TenancyError) => console.error(error));
  return (error, request, response, next) => {
    // A response already under way cannot change its status: Express's own handler closes it.
    if (!(error instanceof TenancyError) || response.headersSent) return next(error);
    const { status, message } = tenancyErrorStatus(error);
    if (status >= 500) log(error, request);
    send(response, status, message);
  };
}
