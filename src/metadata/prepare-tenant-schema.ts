import { type DataSource, EntitySchema } from 'typeorm';
import type { MetadataArgsStorage } from 'typeorm/metadata-args/MetadataArgsStorage.js';
import { TenancyConfigError } from '../errors.js';
import { DriverUtils } from '../internal/typeorm/deep-imports.js';
import { copyMetadataArgs } from '../internal/typeorm/metadata-build.js';
import { injectTenantColumn, readTenantKey } from './inject-tenant-column.js';
import { injectCompositeKeys, injectTenantPrimary, injectTenantUniques, type KeyDialect } from './inject-tenant-keys.js';
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

/** What the DataSource's dialect can do with composite foreign keys (see `KeyDialect`). */
/**
 * SQLite allows AUTOINCREMENT only on a single-column primary key: with `synchronize`, `(id, tenant_id)`
 * with a generated id would fail in TypeORM's schema builder with a message that names neither the
 * option nor a way out. (Without it the metadata builds, and creating the table fails the same way.)
 */
function refuseGeneratedIdInCompositePrimaryOnSqlite(dataSource: DataSource, storage: MetadataArgsStorage, scoped: Function): void {
  if (!DriverUtils.isSQLiteFamily(dataSource.driver) || !dataSource.options.synchronize) return;
  const generated = storage.generations.find((g) => g.strategy === 'increment' && (g.target === scoped || (typeof g.target === 'function' && scoped.prototype instanceof g.target)));
  if (!generated) return;
  throw new TenancyConfigError(
    `Entity ${scoped.name} has compositeKeys: 'primary' and a generated id (${generated.propertyName}): SQLite cannot generate an id that is part of a composite primary key. ` +
      "Use compositeKeys: true on SQLite (the database still refuses cross-tenant references), or a uuid / assigned id.",
    { entity: scoped.name, operation: 'initialize' },
  );
}

function keyDialect(dataSource: DataSource): KeyDialect {
  return { nullingKeyBesideComposite: DriverUtils.isPostgresFamily(dataSource.driver) && dataSource.options.type !== 'cockroachdb' };
}

/**
 * The decorator args this DataSource's metadata is built from: checks the decorators (exactly
 * one tenant entity, not scoped itself, no scoped nested-set tree) and adds the tenant column, its
 * foreign key and index, per-tenant uniques and composite keys to a copy of TypeORM's global
 * decorator args, so they apply to this DataSource only.
 */
export function prepareTenantSchema(dataSource: DataSource, compositeKeysDefault: CompositeKeys): MetadataArgsStorage {
  const storage = copyMetadataArgs();
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
  const key = readTenantKey(storage, tenantClass);
  const trees = storage.trees;
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
    injectTenantColumn(storage, scoped, options, tenantClass, key);
  }
  // Decorated classes (not their children) with their key mode; primary keys first, so every
  // relation sees whether the key it references includes the tenant column.
  const decorated = classes.flatMap((scoped) => {
    const options = scopedOptionsOf(scoped);
    return options && scopedOptionsOf(Object.getPrototypeOf(scoped)) !== options ? [{ scoped, options, mode: options.compositeKeys ?? compositeKeysDefault }] : [];
  });
  for (const { scoped, options, mode } of decorated) if (mode === 'primary') injectTenantPrimary(storage, scoped, options);
  const dialect = keyDialect(dataSource);
  for (const { scoped, options, mode } of decorated) {
    injectTenantUniques(storage, scoped, options);
    injectCompositeKeys(storage, scoped, options, mode, dialect);
  }
  for (const { scoped, mode } of decorated) if (mode === 'primary') refuseGeneratedIdInCompositePrimaryOnSqlite(dataSource, storage, scoped);
  return storage;
}
