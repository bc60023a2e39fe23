import type { ExecutionContext } from '@nestjs/common';
import { look, type TenantLookup } from '../tenant-resolver.js';
import type { TenantContextResolver } from './tenancy-module-options.js';

/** The message of a microservice or WebSocket call; `undefined` for other transports. */
function messageOf(context: ExecutionContext): unknown {
  switch (context.getType()) {
    case 'rpc':
      return context.switchToRpc().getData();
    case 'ws':
      return context.switchToWs().getData();
    default:
      return undefined;
  }
}

/**
 * The tenant named by a property of the message a microservice handler
 * (`switchToRpc().getData()`) or WebSocket handler (`switchToWs().getData()`)
 * receives, mapped through `lookup` (as for the HTTP resolvers; without one the
 * value is the id, a decimal text also matching an integer key). A message without
 * the property (or with `null`, or blank text) names no tenant: `MissingTenantError`.
 * A value that is neither text nor a number names an unknown tenant.
 *
 * @example
 * TenancyModule.forRoot({ resolve: byHeader('x-tenant-id'), resolveContext: byPayload('tenantId') })
 * // client.send('posts.list', { tenantId: 2 })  → the handler runs in tenant 2
 * // ws.send(JSON.stringify({ event: 'posts', data: { tenant: 'acme' } }))  with byPayload('tenant', { acme: 1 })
 */
export function byPayload(property: string, lookup?: TenantLookup): TenantContextResolver {
  return (context) => {
    const message = messageOf(context);
    const value = message !== null && typeof message === 'object' && Object.hasOwn(message, property) ? (message as Record<string, unknown>)[property] : undefined;
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'number') return lookup === undefined ? value : look(String(value), lookup);
    if (typeof value !== 'string') return null;
    const text = value.trim();
    return text === '' ? undefined : look(text, lookup);
  };
}
