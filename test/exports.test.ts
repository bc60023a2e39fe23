import { describe, expect, it } from 'vitest';
import * as root from '../src/index.js';
import * as express from '../src/integrations/express.js';
import * as nestjs from '../src/integrations/nestjs/index.js';
import * as testing from '../src/testing/index.js';

// The public surface is listed by hand: a new export is a decision, not an accident.
describe('public exports', () => {
  it.each([
    [
      'typeorm-tenancy',
      root,
      [
        'MissingTenantError', 'RowLevelSecurity', 'StorageConflictError', 'StorageUnavailableError', 'Tenancy', 'TenancyConfigError', 'TenancyError', 'TenantCatalog',
        'TenantEntity', 'TenantEntityManager', 'TenantMismatchError', 'TenantScoped', 'TenantUnique', 'UnknownTenantError', 'UnsafeQueryError',
        'defaultSchemaName', 'tenantStorageName',
      ],
    ],
    ['typeorm-tenancy/express', express, ['byHeader', 'byHostname', 'bySubdomain', 'tenancyErrorHandler', 'tenancyMiddleware', 'tenantManager', 'withDefault']],
    [
      'typeorm-tenancy/nestjs',
      nestjs,
      [
        'CurrentTenant', 'InjectTenantManager', 'TENANCY_MODULE_OPTIONS', 'TENANT_MANAGER', 'TenancyExceptionFilter', 'TenancyInterceptor',
        'TenancyMiddleware', 'TenancyModule', 'byHeader', 'byHostname', 'byPayload', 'bySubdomain', 'currentTenantManager', 'registerTenancy',
        'tenancyDataSourceFactory', 'tenancyOf', 'tenantManager', 'withDefault',
      ],
    ],
    ['typeorm-tenancy/testing', testing, ['TenantIsolationError', 'assertTenantIsolation', 'formatIsolationReport', 'probeTenantIsolation']],
  ] as const)('%s exports exactly its documented names', (_name, module, names) => {
    expect(Object.keys(module).sort()).toEqual([...names].sort());
  });

  it('every error is a TenancyError with a stable code', () => {
    const errors = [
      root.MissingTenantError,
      root.UnknownTenantError,
      root.TenantMismatchError,
      root.UnsafeQueryError,
      root.TenancyConfigError,
      root.StorageUnavailableError,
      root.StorageConflictError,
    ];
    for (const E of errors) {
      const error = new E('m');
      expect(error).toBeInstanceOf(root.TenancyError);
      expect(error.name).toBe(E.name);
      expect(error.code).toMatch(/^TENANCY_[A-Z_]+$/);
    }
  });
});
