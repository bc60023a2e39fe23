import type { IncomingHttpHeaders } from 'node:http';
import type { TenantId } from '../scoping/tenant-key.js';

/**
 * What the resolvers read from a request: its headers and, when the framework
 * provides them, `host` (with port) and `hostname` (without). Express 5 requests,
 * Nest's underlying Express requests and plain `http.IncomingMessage`s all fit.
 * Express's `req.host` / `req.hostname` honour its `trust proxy` setting
 * (`X-Forwarded-Host`); without them the `Host` header is read.
 */
export interface TenantRequest {
  readonly headers: IncomingHttpHeaders;
  readonly host?: string;
  readonly hostname?: string;
}

/**
 * What a resolver answers for one request:
 * - a tenant id (the tenant entity's primary key): the request belongs to that tenant;
 * - `undefined`: the request names no tenant (a **missing** tenant: 400 by default);
 * - `null`: the request names a tenant that does not exist (an **unknown** tenant: 404 by default).
 */
export type TenantResolution = TenantId | null | undefined;

/**
 * Finds the tenant of a request, synchronously or asynchronously. Use one of
 * `byHostname`, `byHeader`, `bySubdomain` (optionally wrapped in `withDefault`), or
 * write your own.
 *
 * @example
 * const resolve: TenantResolver<express.Request> = async (req) => {
 *   const token = req.get('authorization');
 *   if (!token) return undefined;               // missing: 400
 *   return (await verify(token))?.tenantId ?? null; // unknown: 404
 * };
 */
export type TenantResolver<Req = TenantRequest> = (request: Req) => TenantResolution | PromiseLike<TenantResolution>;

/**
 * Maps the text a resolver read from the request (a host name, a header value,
 * a subdomain) to a tenant id: a plain object or a `Map` of known keys, or a
 * function (sync or async). A key the lookup does not know — absent from the
 * table, or `null`/`undefined` from the function — is an **unknown** tenant (404).
 * Object tables only match their own keys (`constructor`, `__proto__` are not keys).
 */
export type TenantLookup =
  | Readonly<Record<string, TenantId>>
  | ReadonlyMap<string, TenantId>
  | ((key: string) => TenantId | null | undefined | PromiseLike<TenantId | null | undefined>);

/** @internal Maps the text read from a request or message through `lookup` (none: the text itself). */
export async function look(key: string, lookup: TenantLookup | undefined): Promise<TenantId | null> {
  if (lookup === undefined) return key;
  if (typeof lookup === 'function') return (await lookup(key)) ?? null;
  if (lookup instanceof Map) return lookup.get(key) ?? null;
  const table = lookup as Readonly<Record<string, TenantId>>;
  return Object.hasOwn(table, key) ? table[key]! : null;
}

function headerText(request: TenantRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  const text = Array.isArray(value) ? value.join(', ') : value;
  const trimmed = text?.trim();
  return trimmed ? trimmed : undefined;
}

/** The host with port as the client sent it, lowercase, without a trailing dot. */
function hostOf(request: TenantRequest): string | undefined {
  const host = typeof request.host === 'string' && request.host ? request.host : headerText(request, 'host');
  return host?.toLowerCase().replace(/\.(?=:\d+$|$)/, '');
}

/** The host without port (IPv6 literals keep their brackets), lowercase, without a trailing dot. */
function hostnameOf(request: TenantRequest): string | undefined {
  if (typeof request.hostname === 'string' && request.hostname) return request.hostname.toLowerCase().replace(/\.$/, '');
  const host = hostOf(request);
  if (!host) return undefined;
  return host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d*$/, '');
}

/** Options of `byHostname`. */
export interface ByHostnameOptions {
  /**
   * Match the host with its port (`localhost:5000`) instead of the host name alone
   * (`localhost`). Defaults to `false`.
   */
  port?: boolean;
}

/**
 * The tenant named by the request's host: the host name (lowercase, no port, no
 * trailing dot), or with `{ port: true }` the host as sent (`127.0.0.1:5000`),
 * mapped through `lookup`. Without a lookup the host itself is the tenant id (for
 * string tenant keys). A request without a host is a missing tenant.
 *
 * @example
 * app.use(tenancyMiddleware(tenancy, { resolve: byHostname({ 'acme.localhost': 1, 'globex.localhost': 2 }) }));
 * @example
 * // the tenant registry in the database (Tenant is a shared entity):
 * byHostname(async (host) => (await dataSource.manager.findOneBy(Tenant, { host }))?.id, { port: true })
 */
export function byHostname(lookup?: TenantLookup, options: ByHostnameOptions = {}): TenantResolver {
  return (request) => {
    const key = options.port ? hostOf(request) : hostnameOf(request);
    return key === undefined ? undefined : look(key, lookup);
  };
}

/**
 * The tenant named by a request header (trimmed; repeated headers are joined with
 * `", "` and so match no single tenant), mapped through `lookup`. Without a lookup
 * the header value is the tenant id; a decimal text also matches an integer key.
 * A missing or blank header is a missing tenant.
 *
 * @example
 * app.use(tenancyMiddleware(tenancy, { resolve: byHeader('x-tenant-id') }));
 * // curl -H 'x-tenant-id: 2' ...   → tenant 2
 * @example
 * byHeader('tenant', { edgy: 2, saffier: 3 }) // names, not ids, in the header
 */
export function byHeader(name: string, lookup?: TenantLookup): TenantResolver {
  return (request) => {
    const key = headerText(request, name);
    return key === undefined ? undefined : look(key, lookup);
  };
}

/**
 * The tenant named by the subdomain of `domain`: for `acme.example.com` under
 * `'example.com'` the key is `acme` (deeper names keep their dots: `eu.acme`),
 * mapped through `lookup`. The bare domain and hosts outside it are a missing
 * tenant. Several domains may be given.
 *
 * @example
 * bySubdomain('example.com', async (slug) => (await dataSource.manager.findOneBy(Tenant, { slug }))?.id)
 */
export function bySubdomain(domain: string | readonly string[], lookup?: TenantLookup): TenantResolver {
  const suffixes = (typeof domain === 'string' ? [domain] : domain).map((d) => `.${d.toLowerCase().replace(/^\.|\.$/g, '')}`);
  return (request) => {
    const hostname = hostnameOf(request);
    const suffix = hostname && suffixes.find((s) => hostname.endsWith(s) && hostname.length > s.length);
    return suffix ? look(hostname!.slice(0, -suffix.length), lookup) : undefined;
  };
}

/**
 * Uses `fallback` when `resolver` finds no tenant in the request (`undefined`);
 * an unknown tenant (`null`) stays unknown. For apps where requests without a
 * tenant belong to a shared default tenant.
 *
 * @example
 * // a `tenant` header names the tenant; without one, the shared tenant 1
 * resolve: withDefault(byHeader('tenant', names), 1)
 */
export function withDefault<Req>(resolver: TenantResolver<Req>, fallback: TenantId | (() => TenantId | PromiseLike<TenantId>)): TenantResolver<Req> {
  return async (request) => {
    const resolved = await resolver(request);
    if (resolved !== undefined) return resolved;
    return typeof fallback === 'function' ? fallback() : fallback;
  };
}
