import { randomUUID } from 'node:crypto';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';

/** How the probes can make up a value for a column. */
type Kind = 'string' | 'uuid' | 'integer' | 'decimal' | 'boolean' | 'date' | 'time' | 'timestamp' | 'json' | 'simple-array' | 'enum';

function typeName(column: ColumnMetadata): string {
  const normalized = (() => {
    try {
      return column.entityMetadata.dataSource.driver.normalizeType(column);
    } catch {
      return undefined;
    }
  })();
  const raw = typeof column.type === 'function' ? column.type.name : String(column.type);
  return String(normalized ?? raw).toLowerCase();
}

function kindOf(column: ColumnMetadata): Kind | undefined {
  if (column.enum && column.enum.length > 0) return 'enum';
  if (column.generationStrategy === 'uuid') return 'uuid';
  const type = typeName(column);
  if (type === 'uuid' || type === 'uniqueidentifier') return 'uuid';
  if (type === 'simple-array') return 'simple-array';
  if (type === 'simple-json' || type === 'json' || type === 'jsonb') return 'json';
  if (/^(bool|boolean|bit)$/.test(type)) return 'boolean';
  if (/^(tinyint|smallint|mediumint|int|int2|int4|int8|integer|bigint|number|serial|bigserial|smallserial|unsigned big int)$/.test(type)) return 'integer';
  if (/(decimal|numeric|real|float|double|money)/.test(type)) return 'decimal';
  if (/^(timestamp|timestamptz|datetime|datetime2|datetimeoffset|smalldatetime|timestamp with(out)? time zone)/.test(type)) return 'timestamp';
  if (type === 'date') return 'date';
  if (/^time/.test(type)) return 'time';
  if (/(char|text|string|clob|citext)/.test(type)) return 'string';
  return undefined;
}

let sequence = 0;

/**
 * A value for `column`, different for each `variant`, unique across runs for
 * strings and uuids; `undefined` when the probes cannot make one up (binary,
 * geometry, custom types, ...).
 */
export function fillValue(column: ColumnMetadata, variant: string): unknown {
  const kind = kindOf(column);
  if (!kind) return undefined;
  const n = ++sequence;
  const scalar = (() => {
    switch (kind) {
      case 'enum':
        return column.enum![n % column.enum!.length];
      case 'uuid':
        return randomUUID();
      case 'integer':
        // Unique enough for key columns, small enough for any integer type.
        return column.isPrimary || isUniqueColumn(column) ? 10_000 + Math.floor(Math.random() * 20_000) + (n % 100) : n % 100;
      case 'decimal':
        return (n % 100) + 0.5;
      case 'boolean':
        return n % 2 === 0;
      case 'timestamp':
        return new Date(Date.UTC(2001, 0, 1, 0, 0, n % 60));
      case 'date':
        return `2001-01-${String((n % 28) + 1).padStart(2, '0')}`;
      case 'time':
        return `12:00:${String(n % 60).padStart(2, '0')}`;
      case 'json':
        return { probe: variant, n };
      case 'simple-array':
        return [`probe${n}`];
      case 'string': {
        const text = `${variant}-${n}-${randomUUID().slice(0, 8)}`;
        const length = column.length ? Number(column.length) : undefined;
        return length && text.length > length ? `${n}${randomUUID().replace(/-/g, '')}`.slice(0, length) : text;
      }
    }
  })();
  return column.isArray && kind !== 'simple-array' ? [scalar] : scalar;
}

function isUniqueColumn(column: ColumnMetadata): boolean {
  const metadata = column.entityMetadata;
  return (
    metadata.uniques.some((u) => u.columns.includes(column)) ||
    metadata.indices.some((i) => i.isUnique && i.columns.includes(column))
  );
}

/** True for columns whose value TypeORM or the database provides (keys, dates, versions, tree bookkeeping). */
export function isManaged(column: ColumnMetadata): boolean {
  return (
    column.isGenerated ||
    column.isCreateDate ||
    column.isUpdateDate ||
    column.isDeleteDate ||
    column.isVersion ||
    column.isVirtual ||
    column.isVirtualProperty ||
    column.isDiscriminator ||
    column.isTreeLevel ||
    column.isMaterializedPath ||
    column.isNestedSetLeft ||
    column.isNestedSetRight ||
    column.isInsert === false
  );
}

/** Columns a new row must be given: not nullable, no default, not managed, not a relation's join column. */
export function requiredColumns(metadata: EntityMetadata, tenantColumn: ColumnMetadata | undefined): ColumnMetadata[] {
  return metadata.columns.filter(
    (c) => c !== tenantColumn && !c.relationMetadata && !isManaged(c) && !c.isNullable && (c.default === undefined || c.isPrimary),
  );
}

/** Columns that must be unique in a copied row: non-generated primary keys and unique columns. */
export function mustBeFresh(column: ColumnMetadata): boolean {
  return (column.isPrimary && !column.isGenerated) || isUniqueColumn(column);
}

/**
 * The column a write probe changes: updatable plain data (not a key, not the tenant,
 * not unique, not managed), one the probes can make a value for. Text preferred.
 */
export function probeColumn(metadata: EntityMetadata, tenantColumn: ColumnMetadata): ColumnMetadata | undefined {
  const candidates = metadata.columns.filter(
    (c) => c !== tenantColumn && !c.isPrimary && !c.relationMetadata && !isManaged(c) && c.isUpdate && !isUniqueColumn(c) && kindOf(c) !== undefined,
  );
  return candidates.find((c) => kindOf(c) === 'string') ?? candidates[0];
}

/** A numeric column for `increment()`: integer or decimal data, not a key. */
export function numericColumn(metadata: EntityMetadata, tenantColumn: ColumnMetadata): ColumnMetadata | undefined {
  return metadata.columns.find(
    (c) => c !== tenantColumn && !c.isPrimary && !c.relationMetadata && !isManaged(c) && c.isUpdate && !c.isArray && (kindOf(c) === 'integer' || kindOf(c) === 'decimal'),
  );
}
