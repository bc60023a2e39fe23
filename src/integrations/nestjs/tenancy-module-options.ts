import type { ExecutionContext, InjectionToken, MiddlewareConsumer, ModuleMetadata, OptionalFactoryDependency, Type } from '@nestjs/common';
import type { Tenancy } from '../../tenancy.js';
import type { RequestTenantOptions } from '../request-tenant.js';
import type { TenantRequest, TenantResolution, TenantResolver } from '../tenant-resolver.js';

type MiddlewareConfig = ReturnType<MiddlewareConsumer['apply']>;
/** A route as `MiddlewareConsumer.forRoutes()` takes it: a path, a controller class or `{ path, method }`. */
export type TenancyRoute = Parameters<MiddlewareConfig['forRoutes']>[number];
/** A route as `MiddlewareConsumer.exclude()` takes it: a path or `{ path, method }`. */
export type TenancyExcludedRoute = Parameters<MiddlewareConfig['exclude']>[number];

/**
 * Finds the tenant of a handler call that is not an HTTP request — a microservice
 * message (`context.switchToRpc()`), a WebSocket message (`context.switchToWs()`) —
 * from its execution context: a tenant id, `undefined` (names none: `MissingTenantError`)
 * or `null` (names one that does not exist: `UnknownTenantError`). Sync or async.
 * `byPayload(property)` reads a property of the message.
 *
 * @example
 * // NATS headers: the client sends new NatsRecordBuilder(data).setHeaders(headers).build()
 * resolveContext: (context) => context.switchToRpc().getContext<NatsContext>().getHeaders()?.get('x-tenant-id')
 */
export type TenantContextResolver = (context: ExecutionContext) => TenantResolution | PromiseLike<TenantResolution>;

/** Options of `TenancyModule.forRoot()` (and what `forRootAsync()` builds). */
export interface TenancyModuleOptions<Req extends TenantRequest = TenantRequest> extends Omit<RequestTenantOptions<Req>, 'resolve'> {
  /**
   * Finds the tenant of each HTTP request (`byHeader`, `byHostname`, `bySubdomain` or
   * your own); the module's middleware binds it. Without it no middleware is applied
   * (an application without HTTP routes, e.g. a microservice).
   */
  resolve?: TenantResolver<Req>;
  /**
   * Finds the tenant of microservice and WebSocket handler calls, for
   * `TenancyInterceptor` (see there). Defaults to none: the interceptor binds nothing.
   */
  resolveContext?: TenantContextResolver;
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

/** How the module is put together: fixed when the module is imported, so not built by `forRootAsync()`'s factory. */
export interface TenancyModuleExtras extends TenancyDataSourceOption {
  /**
   * Registers `TenancyExceptionFilter` as a global filter (`APP_FILTER`), so that
   * `TenancyError`s get their HTTP status (and RPC/WebSocket error payload) instead of
   * a 500. Filters bound on controllers or methods, and `app.useGlobalFilters()`
   * ones, are asked first. Defaults to `true`.
   */
  exceptionFilter?: boolean;
}

/**
 * A class that builds the module's options, for `forRootAsync({ useClass })` or
 * `forRootAsync({ useExisting })`.
 *
 * @example
 * @Injectable()
 * class TenancyConfig implements TenancyOptionsFactory {
 *   constructor(private readonly config: ConfigService) {}
 *   createTenancyOptions(): TenancyModuleOptions {
 *     return { resolve: byHeader(this.config.get('TENANT_HEADER')) };
 *   }
 * }
 */
export interface TenancyOptionsFactory {
  createTenancyOptions(): TenancyModuleOptions | Promise<TenancyModuleOptions>;
}

/**
 * Options of `TenancyModule.forRootAsync()`: exactly one of `useFactory`, `useClass`
 * and `useExisting` builds the `TenancyModuleOptions`.
 */
export interface TenancyModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'>, TenancyModuleExtras {
  /** Builds the options; may be async. Its parameters receive the `inject` providers. */
  useFactory?: (...injected: never[]) => TenancyModuleOptions | Promise<TenancyModuleOptions>;
  /** Providers passed to `useFactory`, in order. */
  inject?: (InjectionToken | OptionalFactoryDependency)[];
  /** A `TenancyOptionsFactory` class the module instantiates (with its dependencies) to build the options. */
  useClass?: Type<TenancyOptionsFactory>;
  /** An existing provider (from `imports`, or a global module) that builds the options. */
  useExisting?: InjectionToken<TenancyOptionsFactory>;
}
