import { BadRequestException, Inject, Injectable, type NestMiddleware, NotFoundException } from '@nestjs/common';
import { Tenancy } from '../../tenancy.js';
import { checkTenant, rememberTenantManager } from '../request-tenant.js';
import type { TenantRequest } from '../tenant-resolver.js';
import { TENANCY_MODULE_OPTIONS } from './tenancy.constants.js';
import type { TenancyModuleOptions } from './tenancy-module-options.js';

/**
 * The Nest middleware `TenancyModule` applies: resolves the request's tenant and
 * runs the rest of the request (guards, interceptors, pipes, the handler and
 * everything they await) inside `tenancy.run(tenant, ...)`. Missing and unknown
 * tenants are thrown as `onMissing`/`onUnknown` errors, so exception filters
 * answer them.
 */
@Injectable()
export class TenancyMiddleware implements NestMiddleware<TenantRequest, unknown> {
  constructor(
    @Inject(TENANCY_MODULE_OPTIONS) private readonly options: TenancyModuleOptions,
    @Inject(Tenancy) private readonly tenancy: Tenancy,
  ) {}

  async use(request: TenantRequest, _response: unknown, next: (error?: unknown) => void): Promise<void> {
    const { resolve } = this.options;
    if (!resolve) return next(); // applied without a resolver by hand: nothing to bind
    const found = await checkTenant(this.tenancy, await resolve(request), this.options.exists);
    if (found.status === 'missing') throw this.options.onMissing?.(request) ?? new BadRequestException();
    if (found.status === 'unknown') throw this.options.onUnknown?.(request) ?? new NotFoundException();
    this.tenancy.run(found.tenantId, () => {
      rememberTenantManager(request, this.tenancy.current());
      next();
    });
  }
}
