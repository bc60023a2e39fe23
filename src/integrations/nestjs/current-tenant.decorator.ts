import { createParamDecorator, Inject, Injectable, type PipeTransform } from '@nestjs/common';
import { MissingTenantError } from '../../errors.js';
import type { TenantId } from '../../scoping/tenant-key.js';
import { Tenancy } from '../../tenancy.js';

/**
 * @internal The pipe behind `@CurrentTenant()`: pipes run inside the handler call, so
 * inside the tenant bound by the middleware or `TenancyInterceptor`, and Nest
 * injects the `Tenancy` into them.
 */
@Injectable()
export class CurrentTenantPipe implements PipeTransform<unknown, TenantId> {
  constructor(@Inject(Tenancy) private readonly tenancy: Tenancy) {}

  transform(): TenantId {
    try {
      return this.tenancy.current().tenantId;
    } catch (error) {
      if (!(error instanceof MissingTenantError)) throw error;
      throw new MissingTenantError(
        '@CurrentTenant() found no tenant bound for this call. Apply TenancyModule (HTTP routes) or TenancyInterceptor with resolveContext ' +
          '(microservice and WebSocket handlers) to it, or drop the route from `exclude`.',
        { operation: 'CurrentTenant' },
      );
    }
  }
}

const tenantParameter = createParamDecorator(() => undefined);

/**
 * A handler parameter that receives the id of the tenant the call is bound to (the
 * canonical id: a number for an integer key, a string otherwise) — in controllers,
 * microservice handlers and WebSocket gateways. A call without a tenant is a
 * `MissingTenantError` (400 through `TenancyExceptionFilter`).
 *
 * @example
 * @Get('whoami')
 * whoami(@CurrentTenant() tenant: number) {
 *   return { tenant };
 * }
 */
export function CurrentTenant(): ParameterDecorator {
  return tenantParameter(undefined, CurrentTenantPipe);
}
