import './manager/bound-operations.js';

export { TenancyError, MissingTenantError, TenantMismatchError, UnsafeQueryError, TenancyConfigError } from './errors.js';
export type { TenancyErrorDetails } from './errors.js';
export { TenantEntity } from './metadata/tenant-entity.decorator.js';
export { TenantScoped } from './metadata/tenant-scoped.decorator.js';
export type { TenantScopedOptions } from './metadata/tenant-marks.js';
export { Tenancy } from './tenancy.js';
export type { TenancyOptions } from './tenancy.js';
export { TenantEntityManager } from './manager/tenant-entity-manager.js';
export type { SafeOption } from './manager/safe-option.js';
export type { TenantId } from './scoping/tenant-key.js';
