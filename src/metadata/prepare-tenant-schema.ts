import { type DataSource, EntitySchema, getMetadataArgsStorage } from 'typeorm';
import { TenancyConfigError } from '../errors.js';
import { injectTenantColumn, readTenantKey } from './inject-tenant-column.js';
import { injectCompositeKeys, injectTenantUniques } from './inject-tenant-keys.js';
import { type CompositeKeys, isTenantEntityClass, scopedOptionsOf } from './tenant-marks.js';

/** The entity classes of the DataSource: classes and EntitySchemas with a target. */
function entityClasses(dataSource: DataSource): Function[] {
const listed = dataSource.options.entities ?? [];
  const entries = Array.isArray(listed) ? listed : Object.values(listed);
  const classes: Function[] = [];
  for (const entry of entries) {
    if (typeof entry === 'function') classes.push(entry);
    else if (entry instanceof EntitySchema && typeof entry.options.target === 'function') classes.push(entry.options.target);
    else if (typeof entry === 'string' && (entry.includes('*') || entry.includes('/'))) {
      throw new TenancyConfigError(
        `Entity path "${entry}" cannot be checked for @TenantScoped before initialize(). List the entity classes in the DataSource options.`,
        { operation: 'initialize' },
      );
    }
  }
  return classes;
}

/**
 * Before TypeORM builds metadata: checks the decorators (exactly one tenant entity,
 * not scoped itself, no scoped nested-set tree) and adds the tenant column, its
 * foreign key and index, per-tenant uniques and composite keys to the decorator args.
 */
export function prepareTenantSchema(dataSource: DataSource, compositeKeysDefault: CompositeKeys): void {
  const classes = entityClasses(dataSource);
  const tenantClasses = classes.filter(isTenantEntityClass);
  if (tenantClasses.length !== 1) {
    throw new TenancyConfigError(
      tenantClasses.length === 0
        ? 'No @TenantEntity() class is among the DataSource entities. Decorate the tenant entity with @TenantEntity() and list it in entities.'
        : `Found ${tenantClasses.length} @TenantEntity() classes (${tenantClasses.map((c) => c.name).join(', ')}); a DataSource has exactly one. Remove the decorator from all but one.`,
      { operation: 'initialize' },
    );
  }
  const tenantClass = tenantClasses[0]!;
  if (scopedOptionsOf(tenantClass)) {
    throw new TenancyConfigError(
      `Tenant entity ${tenantClass.name} is also @TenantScoped(); the tenant table cannot belong to a tenant. Remove @TenantScoped() from it.`,
      { entity: tenantClass.name, operation: 'initialize' },
    );
  }
  const key = readTenantKey(tenantClass);
  const trees = getMetadataArgsStorage().trees;
  for (const scoped of classes) {
    const options = scopedOptionsOf(scoped);
    if (!options) continue;
    if (trees.some((t) => t.type === 'nested-set' && (t.target === scoped || scoped.prototype instanceof (t.target as Function)))) {
      throw new TenancyConfigError(
        `Entity ${scoped.name} is @TenantScoped() and a nested-set @Tree: nested-set maintenance updates the whole table with raw SQL, across tenants. ` +
          'Use @Tree("materialized-path") or @Tree("closure-table") for scoped trees.',
        { entity: scoped.name, operation: 'initialize' },
      );
    }
    // Child entities inherit the injected column from the decorated ancestor.
    if (scopedOptionsOf(Object.getPrototypeOf(scoped)) === options) continue;
    injectTenantColumn(scoped, options, tenantClass, key);
  }
  for (const scoped of classes) {
    const options = scopedOptionsOf(scoped);
    if (!options || scopedOptionsOf(Object.getPrototypeOf(scoped)) === options) continue;
    injectTenantUniques(scoped, options);
    injectCompositeKeys(scoped, options, options.compositeKeys ?? compositeKeysDefault);
  }
}
