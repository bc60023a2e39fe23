/**
 * `typeorm-tenancy/nestjs`: request-bound tenants for NestJS — HTTP requests
 * (middleware), microservice and WebSocket handlers (`TenancyInterceptor`), and
 * `TenancyError`s answered with their HTTP status (`TenancyExceptionFilter`).
 *
 * @example
 * @Module({
 *   imports: [
 *     TypeOrmModule.forRootAsync({ useFactory: () => options, dataSourceFactory: tenancyDataSourceFactory() }),
 *     TypeOrmModule.forFeature([Note]),
 *     TenancyModule.forRoot({ resolve: byHeader('x-tenant-id') }),
 *   ],
 * })
 * export class AppModule {}
 * @module
 */
export { TenancyModule } from './tenancy.module.js';
export type {
  TenancyDataSourceOption,
  TenancyModuleAsyncOptions,
  TenancyModuleExtras,
  TenancyModuleOptions,
  TenancyOptionsFactory,
  TenantContextResolver,
} from './tenancy-module-options.js';
export { TenancyMiddleware } from './tenancy.middleware.js';
export { TenancyInterceptor } from './tenancy.interceptor.js';
export { TenancyExceptionFilter } from './tenancy-exception.filter.js';
export { CurrentTenant } from './current-tenant.decorator.js';
export { InjectTenantManager } from './inject-tenant-manager.decorator.js';
export { currentTenantManager } from './current-tenant-manager.js';
export { byPayload } from './context-resolvers.js';
export { TENANCY_MODULE_OPTIONS, TENANT_MANAGER } from './tenancy.constants.js';
export { registerTenancy, tenancyDataSourceFactory, tenancyOf } from './tenancy-data-source.js';
export { byHeader, byHostname, bySubdomain, withDefault } from '../tenant-resolver.js';
export type { ByHostnameOptions, TenantLookup, TenantRequest, TenantResolution, TenantResolver } from '../tenant-resolver.js';
export { tenantManager } from '../request-tenant.js';
export type { RequestTenantOptions } from '../request-tenant.js';
