import type { DataSource, ObjectLiteral } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { TenantId, TenantKey } from '../scoping/tenant-key.js';
import type { Tenancy } from '../tenancy.js';
import { UsageError } from './errors.js';

/** The tenant entity's key column (and through it the entity metadata) of an initialized Tenancy. */
export function tenantKeyOf(tenancy: Tenancy): TenantKey {
  const key = (tenancy as { scopeRegistry?: { tenantKey?: TenantKey } }).scopeRegistry?.tenantKey;
  if (!key?.column?.entityMetadata) {
    throw new UsageError('The tenancy export has no tenant key metadata: is it a Tenancy from this version of typeorm-tenancy?');
  }
  return key;
}

/** A tenant id typed on the command line, as the tenant key expects it (a number for integer keys). */
export function parseTenantId(text: string, key: TenantKey): TenantId {
  if (key.kind === 'integer') {
    const id = /^-?[0-9]+$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(id)) throw new UsageError(`"${text}" is not a tenant id: ${key.entityName} ids are integers.`);
    return id;
  }
  if (key.kind === 'bigint' && !/^-?[0-9]{1,19}$/.test(text)) throw new UsageError(`"${text}" is not a tenant id: ${key.entityName} ids are bigints.`);
  return text;
}

/**
 * The values of a new tenant: `--json '<object>'` first, then each `--<property> <value>`
 * (or `--<property>=<value>`; `--plan-type` also names `planType`). Flag values are converted
 * by the column type (numbers, booleans, JSON columns); everything else stays a string.
 * Properties that are not columns or relations of the tenant entity are refused.
 */
export function tenantValues(metadata: EntityMetadata, json: string | undefined, flags: readonly string[]): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  const columns = new Map(metadata.columns.map((c) => [c.propertyPath, c]));
  const known = new Set([...columns.keys(), ...metadata.relations.map((r) => r.propertyPath), ...metadata.embeddeds.map((e) => e.propertyPath)]);
  const unknown = (name: string, where: string) =>
    new UsageError(`${metadata.name} has no property "${name}" (${where}). Its properties: ${[...known].join(', ')}.`);

  if (json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (error) {
      throw new UsageError(`--json is not valid JSON: ${(error as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError('--json must be a JSON object, like \'{"name":"acme"}\'.');
    for (const [name, value] of Object.entries(parsed)) {
      if (!known.has(name)) throw unknown(name, 'in --json');
      values[name] = value;
    }
  }

  for (let i = 0; i < flags.length; i++) {
    const arg = flags[i]!;
    if (!arg.startsWith('--') || arg === '--') throw new UsageError(`Unexpected argument "${arg}". Give tenant values as --<property> <value> or --json '<object>'.`);
    const equals = arg.indexOf('=');
    const flag = equals === -1 ? arg.slice(2) : arg.slice(2, equals);
    let value: string | undefined = equals === -1 ? undefined : arg.slice(equals + 1);
    if (value === undefined) {
      const next = flags[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new UsageError(`--${flag} needs a value.`);
      value = next;
      i++;
    }
    const camel = flag.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
    const name = known.has(flag) ? flag : known.has(camel) ? camel : undefined;
    if (!name) throw unknown(flag, `from --${flag}`);
    const column = columns.get(name);
    setPath(values, name, column ? convert(value, column, flag) : value);
  }
  return values;
}

const numberTypes = new Set(['int', 'int2', 'int4', 'integer', 'smallint', 'tinyint', 'mediumint', 'float', 'float4', 'float8', 'double', 'double precision', 'real', 'number']);
const booleanTypes = new Set(['boolean', 'bool']);
const jsonTypes = new Set(['json', 'jsonb', 'simple-json']);

function convert(text: string, column: ColumnMetadata, flag: string): unknown {
  const type = typeof column.type === 'function' ? column.type.name.toLowerCase() : String(column.type).toLowerCase();
  if (numberTypes.has(type)) {
    const n = text.trim() === '' ? Number.NaN : Number(text);
    if (!Number.isFinite(n)) throw new UsageError(`--${flag} must be a number, not "${text}".`);
    return n;
  }
  if (booleanTypes.has(type)) {
    if (text === 'true' || text === 'false') return text === 'true';
    throw new UsageError(`--${flag} must be true or false, not "${text}".`);
  }
  if (jsonTypes.has(type)) {
    try {
      return JSON.parse(text);
    } catch {
      throw new UsageError(`--${flag} must be JSON, not "${text}".`);
    }
  }
  return text;
}

/** Sets `a.b.c` (embedded columns) as nested objects. */
function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    node = (node[part] = typeof next === 'object' && next !== null ? next : {}) as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}

/** Columns TypeORM or the database fill in themselves: never "missing". */
function filledForYou(column: ColumnMetadata): boolean {
  return (
    !column.isInsert ||
    column.isNullable ||
    column.default !== undefined ||
    column.isGenerated ||
    column.generatedType !== undefined ||
    column.isCreateDate ||
    column.isUpdateDate ||
    column.isDeleteDate ||
    column.isVersion ||
    column.isDiscriminator ||
    // A foreign key without a property of its own is "virtual" too, but it is required all the same.
    (column.isVirtual && !column.relationMetadata) ||
    column.isVirtualProperty ||
    column.isTreeLevel ||
    column.isNestedSetLeft ||
    column.isNestedSetRight ||
    column.isMaterializedPath
  );
}

/**
 * The properties of a new tenant that its table requires (NOT NULL, no default, not generated)
 * but `values` leave empty, read from the metadata, so `tenants:add` can name them instead of
 * printing the database's NOT NULL error. Class field initializers count (the entity is made
 * with `manager.create()`, as `tenancy.tenants.create()` makes it). Empty when code the CLI
 * cannot see may fill values at insert: entity listeners (`@BeforeInsert`) or the application's
 * own subscribers.
 */
export function missingRequiredValues(dataSource: DataSource, metadata: EntityMetadata, values: Record<string, unknown>): string[] {
  if (metadata.beforeInsertListeners.length > 0) return [];
  const listed = dataSource.options.subscribers ?? [];
  const subscriberClasses: unknown[] = Array.isArray(listed) ? listed : Object.values(listed);
  const userSubscribers = dataSource.subscribers.filter((s) => subscriberClasses.includes(s.constructor));
  const mayFill = (s: (typeof userSubscribers)[number]) => typeof s.beforeInsert === 'function' && (!s.listenTo || metadata.inheritanceTree.includes(s.listenTo() as Function));
  if (subscriberClasses.some((s) => typeof s === 'string') || userSubscribers.some(mayFill)) return [];

  const entity = dataSource.manager.create(metadata.target as new () => ObjectLiteral, values);
  const empty = (value: unknown) => value === undefined || value === null;
  const missing = new Set<string>();
  for (const column of metadata.columns) {
    if (filledForYou(column)) continue;
    const relation = column.relationMetadata;
    // A foreign key is given through its relation (`owner`) or its own column property (`ownerId`).
    if (relation && !empty(relation.getEntityValue(entity))) continue;
    if (!empty(column.getEntityValue(entity))) continue;
    missing.add(relation ? relation.propertyPath : column.propertyPath);
  }
  return [...missing];
}
