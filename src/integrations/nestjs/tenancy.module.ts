import { type DynamicModule, Global, Inject, type MiddlewareConsumer, Module, type NestModule, type Provider } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Tenancy } from '../../tenancy.js';
import { currentTenantManager } from './current-tenant-manager.js';
import { TENANCY_MODULE_OPTIONS, TENANT_MANAGER } from './tenancy.constants.js';
import { tenancyOf } from './tenancy-data-source.js';
import { TenancyMiddleware } from './tenancy.middleware.js';
import type { TenancyDataSourceOption, TenancyModuleAsyncOptions, TenancyModuleOptions } from './tenancy-module-options.js';

/**
 * Binds every request's tenant in a Nest application, through Nest's middleware
 * (no request-scoped providers, no patching). Global: import it once, in the root
 * module. Provides `Tenancy` (inject it by class) and the current tenant manager
 * (`@InjectTenantManager()`). With `defaultManager: 'context'` (the default),
 * `@InjectRepository()` repositories are scoped to the request's tenant too.
 *
 * @example
 * @Module({
 *   imports: [
 *     TypeOrmModule.forRootAsync({
 *       useFactory: () => ({ type: 'better-sqlite3', database: ':memory:', entities: [Tenant, Note], synchronize: true }),
 *       dataSourceFactory: tenancyDataSourceFactory(), // new Tenancy(dataSource) before initialize()
 *     }),
 *     TypeOrmModule.forFeature([Note]),
 *     TenancyModule.forRoot({ resolve: byHeader('x-tenant-id') }),
 *   ],
 *   controllers: [NotesController],
 * })
 * export class AppModule {}
 */
@Global()
@Module({})
export class TenancyModule implements NestModule {
  constructor(@Inject(TENANCY_MODULE_OPTIONS) private readonly options: TenancyModuleOptions) {}

  /** @internal Applies `TenancyMiddleware` to `forRoutes` (default: every route) except `exclude`. */
  configure(consumer: MiddlewareConsumer): void {
    const { forRoutes = ['*'], exclude = [] } = this.options;
    const middleware = consumer.apply(TenancyMiddleware);
    (exclude.length > 0 ? middleware.exclude(...exclude) : middleware).forRoutes(...forRoutes);
  }

  /**
   * Configures the module with static options.
   *
   * @example
   * TenancyModule.forRoot({ resolve: byHostname({ 'acme.localhost': 1 }) })           // Tenancy of the default DataSource
   * TenancyModule.forRoot({ tenancy, resolve: bySubdomain('example.com', lookup) })  // a Tenancy you created
   */
  static forRoot(options: TenancyModuleOptions & TenancyDataSourceOption): DynamicModule {
    return createTenancyModule([{ provide: TENANCY_MODULE_OPTIONS, useValue: options }], options.dataSource, []);
  }

  /**
   * Configures the module with options built by a factory, which can inject
   * providers (the DataSource for a tenant lookup, a config service).
   *
   * @example
   * TenancyModule.forRootAsync({
   *   inject: [DataSource],
   *   useFactory: (dataSource: DataSource) => ({
   *     resolve: byHostname(async (hostname) => (await dataSource.manager.findOneBy(Tenant, { hostname }))?.id),
   *   }),
   * })
   */
  static forRootAsync(options: TenancyModuleAsyncOptions): DynamicModule {
    const optionsProvider: Provider = {
      provide: TENANCY_MODULE_OPTIONS,
      useFactory: options.useFactory as (...injected: unknown[]) => TenancyModuleOptions | Promise<TenancyModuleOptions>,
      inject: options.inject ?? [],
    };
    return createTenancyModule([optionsProvider], options.dataSource, options.imports ?? []);
  }
}

/** The module definition shared by `forRoot` and `forRootAsync`. */
function createTenancyModule(optionsProviders: Provider[], dataSource: TenancyDataSourceOption['dataSource'], imports: NonNullable<DynamicModule['imports']>): DynamicModule {
  return {
    module: TenancyModule,
    global: true,
    imports,
    providers: [
      ...optionsProviders,
      {
        provide: Tenancy,
        useFactory: (options: TenancyModuleOptions, source: DataSource | undefined) => options.tenancy ?? tenancyOf(source),
        inject: [TENANCY_MODULE_OPTIONS, { token: dataSource ?? DataSource, optional: true }],
      },
      { provide: TENANT_MANAGER, useFactory: currentTenantManager, inject: [Tenancy] },
      TenancyMiddleware,
    ],
    exports: [Tenancy, TENANT_MANAGER, TENANCY_MODULE_OPTIONS],
  };
}
