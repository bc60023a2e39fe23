/** Injection token of the `TenancyModuleOptions` (what `forRoot` was given or `forRootAsync` built). */
export const TENANCY_MODULE_OPTIONS = Symbol('TENANCY_MODULE_OPTIONS');

/**
 * Injection token of the current request's tenant manager (a handle that resolves
 * `tenancy.current()` on every use). Inject it with `@InjectTenantManager()`.
 */
export const TENANT_MANAGER = Symbol('TENANT_MANAGER');
