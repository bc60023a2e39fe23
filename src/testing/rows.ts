import type { ObjectLiteral } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import { fillValue, isManaged, mustBeFresh } from './fill.js';
import type { RawRow } from './raw.js';

/** A value as text, for comparing keys read raw with keys of loaded entities. */
export function normalize(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export function rawKey(metadata: EntityMetadata, row: RawRow): string {
  return metadata.primaryColumns.map((c) => normalize(row[c.databaseName])).join('|');
}

export function entityKey(metadata: EntityMetadata, entity: ObjectLiteral): string {
  return metadata.primaryColumns.map((c) => normalize(c.getEntityValue(entity))).join('|');
}

/** The primary key of a raw row, shown in reports. */
export function showKey(metadata: EntityMetadata, row: RawRow): string {
  return metadata.primaryColumns.map((c) => `${c.propertyPath} ${normalize(row[c.databaseName])}`).join(', ');
}

export function hydrate(column: ColumnMetadata, row: RawRow): unknown {
  const value = row[column.databaseName];
  if (value === null || value === undefined) return value;
  return column.entityMetadata.dataSource.driver.prepareHydratedValue(value, column);
}

/** `{ property: value }`, nested for embeddeds and for relation join columns (`{ author: { id } }`). */
export function valueMap(column: ColumnMetadata, value: unknown): ObjectLiteral {
  if (column.relationMetadata && column.referencedColumn) {
    return { [column.relationMetadata.propertyName]: valueMap(column.referencedColumn, value) };
  }
  return column.createValueMap(value);
}

export function deepMerge(target: ObjectLiteral, source: ObjectLiteral): ObjectLiteral {
  for (const [key, value] of Object.entries(source)) {
    const existing: unknown = target[key];
    if (existing && typeof existing === 'object' && value && typeof value === 'object' && !(value instanceof Date) && !Array.isArray(value)) {
      deepMerge(existing as ObjectLiteral, value as ObjectLiteral);
    } else {
      target[key] = value;
    }
  }
  return target;
}

/** A find-options `where` naming one row by its primary key. */
export function whereOf(metadata: EntityMetadata, row: RawRow): ObjectLiteral {
  const where: ObjectLiteral = {};
  for (const column of metadata.primaryColumns) deepMerge(where, valueMap(column, hydrate(column, row)));
  return where;
}

/**
 * An entity-like object with the row's values: managed columns and the tenant column
 * left out. `keepKey` keeps the primary key (a write aimed at that row); otherwise
 * keys and unique columns get fresh values (a new row like it).
 */
export function copyOf(metadata: EntityMetadata, row: RawRow, tenantColumn: ColumnMetadata, keepKey: boolean): ObjectLiteral {
  const copy: ObjectLiteral = {};
  for (const column of metadata.columns) {
    if (column === tenantColumn) continue;
    if (isManaged(column) && !(keepKey && column.isPrimary)) continue;
    let value = hydrate(column, row);
    if (!keepKey && mustBeFresh(column) && !column.relationMetadata) value = fillValue(column, 'copy') ?? value;
    if (value === null || value === undefined) continue;
    deepMerge(copy, valueMap(column, value));
  }
  return copy;
}
