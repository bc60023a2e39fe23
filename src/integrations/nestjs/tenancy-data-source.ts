import { DataSource, type DataSourceOptions } from 'typeorm';
import { TenancyConfigError } from '../../errors.js';
import { Tenancy, type TenancyOptions } from '../../tenancy.js';

const tenancies = new WeakMap<DataSource, Tenancy>();

/**
 * A `dataSourceFactory` for `@nestjs/typeorm`'s `TypeOrmModule.forRootAsync()`:
 * creates the DataSource, attaches a `Tenancy` to it **before** `initialize()`
 * (where the tenant columns are added to the metadata), and initializes it.
 * `TenancyModule` then finds that Tenancy through the DataSource (`tenancyOf`).
 *
 * @example
 * TypeOrmModule.forRootAsync({
 *   useFactory: () => ({ type: 'better-sqlite3', database: ':memory:', entities: [Tenant, Note], synchronize: true }),
 *   dataSourceFactory: tenancyDataSourceFactory(), // { defaultManager: 'context' } by default
 * }),
 * TenancyModule.forRoot({ resolve: byHeader('x-tenant-id') }),
 *
 * // the same by hand:
 * dataSourceFactory: async (options) => {
 *   const dataSource = new DataSource(options!);
 *   registerTenancy(new Tenancy(dataSource));
 *   return dataSource.initialize();
 * },
 */
export function tenancyDataSourceFactory(tenancyOptions?: TenancyOptions): (options?: DataSourceOptions) => Promise<DataSource> {
  return async (options) => {
    if (!options) {
      throw new TenancyConfigError('tenancyDataSourceFactory() was called without DataSource options. Give TypeOrmModule.forRootAsync() a useFactory.', {
        operation: 'tenancyDataSourceFactory',
      });
    }
    const dataSource = new DataSource(options);
    registerTenancy(new Tenancy(dataSource, tenancyOptions));
    return dataSource.initialize();
  };
}

/** Makes `tenancyOf(tenancy.dataSource)` return this Tenancy (what `tenancyDataSourceFactory` does). Returns it. */
export function registerTenancy(tenancy: Tenancy): Tenancy {
  tenancies.set(tenancy.dataSource, tenancy);
  return tenancy;
}

/**
 * The Tenancy attached to a DataSource by `tenancyDataSourceFactory()` or
 * `registerTenancy()`. A `TenancyConfigError` that says how to attach one otherwise.
 */
export function tenancyOf(dataSource: DataSource | undefined): Tenancy {
  const tenancy = dataSource && tenancies.get(dataSource);
  if (!tenancy) {
    throw new TenancyConfigError(
      dataSource
        ? 'TenancyModule found no Tenancy attached to the DataSource. Create it with TypeOrmModule.forRootAsync({ ..., dataSourceFactory: tenancyDataSourceFactory() }), ' +
            'or pass TenancyModule.forRoot({ tenancy, ... }).'
        : 'TenancyModule found no DataSource to take the Tenancy from. Import TypeOrmModule.forRootAsync({ ..., dataSourceFactory: tenancyDataSourceFactory() }) ' +
            '(give TenancyModule `dataSource: getDataSourceToken(name)` for a named one), or pass TenancyModule.forRoot({ tenancy, ... }).',
      { operation: 'TenancyModule' },
    );
  }
  return tenancy;
}
