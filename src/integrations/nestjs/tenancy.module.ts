import { type DynamicModule, Global, Inject, type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import { TenancyConfigError } from '../../errors.js';
import { TENANCY_MODULE_OPTIONS } from './tenancy.constants.js';
import { TenancyMiddleware } from './tenancy.middleware.js';
import { ConfigurableTenancyModule } from './tenancy.module-definition.js';
import type { TenancyModuleAsyncOptions, TenancyModuleExtras, TenancyModuleOptions } from './tenancy-module-options.js';

/**
 * Binds every request's tenant in a Nest application, through Nest's middleware
 * (no request-scoped providers, no patching). Global: import it once, in the root
 * module. Provides `Tenancy` (inject it by class), the current tenant manager
 * (`@InjectTenantManager()`) and `TenancyInterceptor` (microservice and WebSocket
 * handlers), and registers `TenancyExceptionFilter` globally. With
 * `defaultManager: 'context'` (the default), `@InjectRepository()` repositories are
 * scoped to the request's tenant too.
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
export class TenancyModule extends ConfigurableTenancyModule implements NestModule {
  constructor(@Inject(TENANCY_MODULE_OPTIONS) private readonly options: TenancyModuleOptions) {
    super();
  }

  /** @internal Applies `TenancyMiddleware` to `forRoutes` (default: every route) except `exclude`, when there is a `resolve`. */
  configure(consumer: MiddlewareConsumer): void {
    const { resolve, forRoutes = ['*'], exclude = [] } = this.options;
    if (!resolve) return;
    const middleware = consumer.apply(TenancyMiddleware);
    (exclude.length > 0 ? middleware.exclude(...exclude) : middleware).forRoutes(...forRoutes);
  }

  /**
   * Configures the module with static options.
   *
   * @example
   * TenancyModule.forRoot({ resolve: byHostname({ 'acme.localhost': 1 }) })           // Tenancy of the default DataSource
   * TenancyModule.forRoot({ tenancy, resolve: bySubdomain('example.com', lookup) })  // a Tenancy you created
   * TenancyModule.forRoot({ resolveContext: byPayload('tenantId') })                 // a microservice
   */
  static override forRoot(options: TenancyModuleOptions & TenancyModuleExtras): DynamicModule {
    return super.forRoot(options);
  }

  /**
   * Configures the module with options built by a factory (`useFactory` with
   * `inject`), by a `TenancyOptionsFactory` class (`useClass`) or by an existing
   * provider (`useExisting`), any of which can inject providers (the DataSource for
   * a tenant lookup, a config service).
   *
   * @example
   * TenancyModule.forRootAsync({
   *   inject: [DataSource],
   *   useFactory: (dataSource: DataSource) => ({
   *     resolve: byHostname(async (hostname) => (await dataSource.manager.findOneBy(Tenant, { hostname }))?.id),
   *   }),
   * })
   * TenancyModule.forRootAsync({ imports: [ConfigModule], useClass: TenancyConfig })
   */
  static override forRootAsync(options: TenancyModuleAsyncOptions): DynamicModule {
    const builders = (['useFactory', 'useClass', 'useExisting'] as const).filter((key) => options[key] !== undefined);
    if (builders.length !== 1) {
      throw new TenancyConfigError(
        `TenancyModule.forRootAsync() needs exactly one of useFactory, useClass and useExisting; it was given ${builders.length === 0 ? 'none' : builders.join(' and ')}.`,
        { operation: 'TenancyModule.forRootAsync' },
      );
    }
    return super.forRootAsync(options as Parameters<typeof ConfigurableTenancyModule.forRootAsync>[0]);
  }
}
