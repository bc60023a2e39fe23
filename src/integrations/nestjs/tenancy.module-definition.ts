import { ConfigurableModuleBuilder, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { Tenancy } from '../../tenancy.js';
import { currentTenantManager } from './current-tenant-manager.js';
import { TenancyExceptionFilter } from './tenancy-exception.filter.js';
import { TenancyInterceptor } from './tenancy.interceptor.js';
import { TenancyMiddleware } from './tenancy.middleware.js';
import { TENANCY_MODULE_OPTIONS, TENANT_MANAGER } from './tenancy.constants.js';
import { tenancyOf } from './tenancy-data-source.js';
import type { TenancyModuleExtras, TenancyModuleOptions } from './tenancy-module-options.js';

/**
 * `forRoot`/`forRootAsync` (with `useFactory`, `useClass`, `useExisting`) from Nest's
 * `ConfigurableModuleBuilder`; the extras are fixed at import time and shape the module.
 */
export const { ConfigurableModuleClass: ConfigurableTenancyModule } = new ConfigurableModuleBuilder<TenancyModuleOptions>({
  optionsInjectionToken: TENANCY_MODULE_OPTIONS,
})
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createTenancyOptions')
  .setExtras<TenancyModuleExtras>({ dataSource: undefined, exceptionFilter: true }, withTenancyProviders)
  .build();

function withTenancyProviders(definition: DynamicModule, { dataSource, exceptionFilter }: TenancyModuleExtras): DynamicModule {
  return {
    ...definition,
    global: true,
    providers: [
      ...(definition.providers ?? []),
      {
        provide: Tenancy,
        useFactory: (options: TenancyModuleOptions, source: DataSource | undefined) => options.tenancy ?? tenancyOf(source),
        inject: [TENANCY_MODULE_OPTIONS, { token: dataSource ?? DataSource, optional: true }],
      },
      { provide: TENANT_MANAGER, useFactory: currentTenantManager, inject: [Tenancy] },
      TenancyMiddleware,
      TenancyInterceptor,
      ...(exceptionFilter === false ? [] : [{ provide: APP_FILTER, useClass: TenancyExceptionFilter }]),
    ],
    exports: [Tenancy, TENANT_MANAGER, TENANCY_MODULE_OPTIONS, TenancyInterceptor],
  };
}
