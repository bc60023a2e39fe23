import './manager/bound-operations.js';

export {
  TenancyError,
  MissingTenantError,
  UnknownTenantError,
  TenantMismatchError,
  UnsafeQueryError,
  TenancyConfigError,
  StorageUnavailableError,
  StorageConflictError,
} from './errors.js';
export type { TenancyErrorDetails } from './errors.js';
export { TenantEntity } from './metadata/tenant-entity.decorator.js';
export { TenantScoped } from './metadata/tenant-scoped.decorator.js';
export { TenantUnique } from './metadata/tenant-unique.decorator.js';
export type { CompositeKeys, TenantScopedOptions } from './metadata/tenant-marks.js';
export { Tenancy } from './tenancy.js';
export type { TenancyOptions } from './tenancy.js';
export type { BypassEvent, TenancyLogEvent, TenancyLogger } from './audit/tenancy-audit.js';
export { TenantEntityManager } from './manager/tenant-entity-manager.js';
export type { SafeOption } from './manager/safe-option.js';
export type { TenantId, TenantObject, TenantRef } from './scoping/tenant-key.js';
export { RowLevelSecurity } from './postgres/row-level-security.js';
export type { BypassLogin, RowLevelSecurityOptions } from './postgres/rls-options.js';
export type { RowLevelSecurityStatements } from './postgres/policy-sql.js';
export type { RowLevelSecurityProblem, RowLevelSecurityReport } from './postgres/rls-verify.js';
export type { KeyProblem } from './metadata/verify-keys.js';
export type { CitusPlan } from './postgres/citus-sql.js';
export { TenantCatalog } from './strategies/tenant-catalog.js';
export type { MigrateAllOptions, MigrationProgress, MigrationSummary, ShardMigrationSummary, TenantExistsOptions } from './strategies/tenant-catalog.js';
export type { SchemaStrategyOptions } from './strategies/schema-strategy.js';
export type { DatabaseStrategyOptions, ShardingOptions } from './strategies/routed-strategy.js';
export { defaultSchemaName, tenantStorageName } from './strategies/schema-names.js';
