import type { InjectionToken, MiddlewareConsumer, ModuleMetadata, OptionalFactoryDependency } from '@nestjs/common';
import type { Tenancy } from '../../tenancy.js';
import type { RequestTenantOptions } from '../request-tenant.js';
import type { TenantRequest } from '../tenant-resolver.js';

type MiddlewareConfig = ReturnType<MiddlewareConsumer['apply']>;
/** A route as `MiddlewareConsumer.forRoutes()` takes it: a path, a controller class or `{ path, method }`. */
export type TenancyRoute = Parameters<MiddlewareConfig['forRoutes']>[number];
/** A route as `MiddlewareConsumer.exclude()` takes it: a path or `{ path, method }`. */
export type TenancyExcludedRoute = Parameters<MiddlewareConfig['exclude']>[number];

/** Options of `TenancyModule.forRoot()` (and what `forRootAsync()`'s factory returns). */
export interface TenancyModuleOptions<Req extends TenantRequest = TenantRequest> extends RequestTenantOptions<Req> {
  /**
   * The Tenancy to bind requests with. Defaults to the one attached to the
   * DataSource by `tenancyDataSourceFactory()` (see `dataSource`).
   */
  tenancy?: Tenancy;
  /**
   * The error a request without a tenant is answered with (through Nest's exception
   * filters). Defaults to `new BadRequestException()`: 400 `{"message":"Bad Request","statusCode":400}`.
   */
  onMissing?: (request: Req) => Error;
  /**
   * The error a request with an unknown tenant is answered with. Defaults to
   * `new NotFoundException()`: 404 `{"message":"Not Found","statusCode":404}`, the same for every unknown tenant.
   */
  onUnknown?: (request: Req) => Error;
  /** The routes that get a tenant, as for `MiddlewareConsumer.forRoutes()`. Defaults to every route (`'*'`). */
  forRoutes?: TenancyRoute[];
  /** Routes without a tenant (health checks, sign-up), as for `MiddlewareConsumer.exclude()`. Defaults to none. */
  exclude?: TenancyExcludedRoute[];
}

/** Where `TenancyModule` takes the DataSource from when no `tenancy` is given. */
export interface TenancyDataSourceOption {
  /**
   * Injection token of the DataSource whose Tenancy is used when `tenancy` is not
   * given. Defaults to TypeORM's `DataSource` class, which is what `@nestjs/typeorm`
   * registers the default DataSource under; use `getDataSourceToken(name)` for a named one.
   */
  dataSource?: InjectionToken;
}

/** Options of `TenancyModule.forRootAsync()`. */
export interface TenancyModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'>, TenancyDataSourceOption {
  /** Providers passed to `useFactory`, in order. */
  inject?: (InjectionToken | OptionalFactoryDependency)[];
  /** Builds the options; may be async. Its parameters receive the `inject` providers. */
  useFactory: (...injected: never[]) => TenancyModuleOptions | Promise<TenancyModuleOptions>;
}
