import type { ColumnOptions } from 'typeorm';
import type { MetadataArgsStorage } from 'typeorm/metadata-args/MetadataArgsStorage.js';
import { TenancyConfigError } from '../errors.js';
import type { ResolvedScopedOptions } from './tenant-marks.js';

/** The tenant entity's primary key, read from the decorator args before `initialize()`. */
export interface TenantKeyShape {
  propertyName: string;
  columnOptions: ColumnOptions;
}

// Column options of the tenant key that the tenant_id column must share to be a valid FK.
const copiedKeyOptions = ['type', 'length', 'precision', 'scale', 'unsigned', 'charset', 'collation'] as const;

function lineage(target: Function): Function[] {
  const chain: Function[] = [];
  for (let c: unknown = target; typeof c === 'function' && c !== Function.prototype; c = Object.getPrototypeOf(c)) {
    chain.push(c as Function);
  }
  return chain;
}

/** Reads the single primary column of the tenant entity; composite tenant keys are refused. */
export function readTenantKey(storage: MetadataArgsStorage, tenantClass: Function): TenantKeyShape {
  const classes = lineage(tenantClass);
  const primaries = storage.columns.filter((c) => classes.includes(c.target as Function) && c.options.primary);
  if (primaries.length !== 1) {
    throw new TenancyConfigError(
      `Tenant entity ${tenantClass.name} has ${primaries.length} primary columns; the tenant key must be exactly one column. ` +
        'Give the tenant entity a single @PrimaryGeneratedColumn() or @PrimaryColumn().',
      { entity: tenantClass.name },
    );
  }
  const key = primaries[0]!;
  const generation = storage.generations.find((g) => classes.includes(g.target as Function) && g.propertyName === key.propertyName);
  const columnOptions: Record<string, unknown> = {};
  for (const name of copiedKeyOptions) {
    if (key.options[name] !== undefined) columnOptions[name] = key.options[name];
  }
  if (columnOptions.type === undefined && generation?.strategy === 'uuid') columnOptions.type = 'uuid';
  if (columnOptions.type === undefined) columnOptions.type = Number;
  return { propertyName: key.propertyName, columnOptions: columnOptions as ColumnOptions };
}

/**
 * Adds the tenant column, its foreign key to the tenant table and its index to a Tenancy's copy
 * of the decorator args of a scoped class, the way TypeORM's own decorators do, so the schema
 * builder (synchronize, migration:generate) sees them like any other column. A declared column is
 * replaced in the copy, never edited: the global decorator args stay as the user wrote them.
 */
export function injectTenantColumn(storage: MetadataArgsStorage, scoped: Function, options: ResolvedScopedOptions, tenantClass: Function, key: TenantKeyShape): void {
  const index = storage.columns.findIndex((c) => c.target === scoped && c.propertyName === options.property);
  const own = storage.columns[index];
  if (own) {
    // The user declared the column: keep their type, enforce what scoping needs.
    if (own.options.name !== undefined && own.options.name !== options.column) {
      throw new TenancyConfigError(
        `Entity ${scoped.name} maps "${options.property}" to column "${own.options.name}" but @TenantScoped expects "${options.column}". ` +
          `Pass @TenantScoped({ column: '${own.options.name}' }) or rename the column.`,
        { entity: scoped.name },
      );
    }
    storage.columns[index] = { ...own, options: { ...own.options, name: options.column, nullable: false, update: false } };
  } else {
    storage.columns.push({
      target: scoped,
      propertyName: options.property,
      mode: 'regular',
      options: { ...key.columnOptions, name: options.column, nullable: false, update: false },
    });
  }
  storage.foreignKeys.push({
    target: scoped,
    type: () => tenantClass,
    columnNames: [options.property],
    referencedColumnNames: [key.propertyName],
    onDelete: options.onDelete,
  });
  if (options.index) storage.indices.push({ target: scoped, columns: [options.property], synchronize: true });
}
