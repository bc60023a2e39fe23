import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import { MissingTenantError } from '../errors.js';

/** A tenant id: the tenant entity's primary key value. */
export type TenantId = string | number;

/**
 * A tenant entity, read by its primary key property: any object but the values
 * that are never one — a `Date`, an array, `Map` or `Set`, a function, a promise
 * (a forgotten `await`).
 */
export type TenantObject =
  | (object & { readonly then?: never; readonly getTime?: never; readonly bind?: never; readonly [Symbol.iterator]?: never })
  | { readonly [key: string]: unknown };

/**
 * What names a tenant in `tenancy.manager()`, `tenancy.run()` and `tenancy.open()`:
 * its id (`number` or `string`; `bigint` too for a bigint key) or a tenant entity
 * with its key set. `null`, `undefined`, booleans, dates, arrays, functions and
 * promises do not compile; whether the id fits the key's column type is checked at
 * run time (`MissingTenantError`).
 */
export type TenantRef = TenantId | bigint | TenantObject;

/** How tenant ids of one DataSource are checked, from the tenant key's column type. */
export type TenantKeyKind = 'integer' | 'bigint' | 'uuid' | 'string';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const integerTypes = new Set(['int', 'int2', 'int4', 'integer', 'smallint', 'tinyint', 'mediumint', 'number']);

export function tenantKeyKind(column: ColumnMetadata): TenantKeyKind {
  const type = typeof column.type === 'function' ? column.type.name.toLowerCase() : String(column.type).toLowerCase();
  if (integerTypes.has(type)) return 'integer';
  if (type === 'bigint' || type === 'int8') return 'bigint';
  if (type === 'uuid' || column.generationStrategy === 'uuid') return 'uuid';
  return 'string';
}

/** The tenant id in canonical form, or `undefined` when the value is not a valid id of that kind. */
export function canonicalTenantId(value: unknown, kind: TenantKeyKind, maxLength?: number): TenantId | undefined {
  switch (kind) {
    case 'integer':
      return typeof value === 'number' && Number.isSafeInteger(value) ? value : undefined;
    case 'bigint':
      if (typeof value === 'bigint') return value.toString();
      if (typeof value === 'number') return Number.isSafeInteger(value) ? String(value) : undefined;
      return typeof value === 'string' && /^-?[0-9]{1,19}$/.test(value) ? BigInt(value).toString() : undefined;
    case 'uuid':
      return typeof value === 'string' && uuidPattern.test(value) ? value.toLowerCase() : undefined;
    case 'string':
      if (typeof value !== 'string' || value.length === 0) return undefined;
      return maxLength !== undefined && value.length > maxLength ? undefined : value;
  }
}

export interface TenantKey {
  readonly kind: TenantKeyKind;
  readonly column: ColumnMetadata;
  readonly entityName: string;
}

/**
 * Resolves what `tenancy.manager(tenant)` was given — an id or a tenant entity —
 * to a canonical id. Anything else is a `MissingTenantError`: an unusable tenant
 * never means "no filter".
 */
export function resolveTenantId(tenant: unknown, key: TenantKey, operation: string): TenantId {
  const raw = tenant !== null && typeof tenant === 'object' && !Array.isArray(tenant)
    ? (tenant as Record<string, unknown>)[key.column.propertyName]
    : tenant;
  const maxLength = key.column.length ? Number(key.column.length) : undefined;
  const id = canonicalTenantId(raw, key.kind, maxLength);
  if (id === undefined) {
    throw new MissingTenantError(
      `${operation} was given ${describe(tenant)}, which is not a ${key.kind} id of ${key.entityName}. ` +
        `Pass a ${key.entityName} id (${key.kind}) or a ${key.entityName} entity with its key set.`,
      { operation, entity: key.entityName },
    );
  }
  return id;
}

/** True when a stored or given value names the same tenant as `tenantId`. */
export function isSameTenant(value: unknown, tenantId: TenantId, key: TenantKey): boolean {
  return canonicalTenantId(value, key.kind) === tenantId;
}

function describe(value: unknown): string {
  if (value === undefined) return 'no tenant (undefined)';
  if (value === null) return 'null';
  if (typeof value === 'string') return value === '' ? 'an empty string' : `the string ${JSON.stringify(value.slice(0, 40))}`;
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : `the number ${value}`;
  if (Array.isArray(value)) return 'an array';
  return `a value of type ${typeof value}`;
}
