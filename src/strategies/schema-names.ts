import { createHash } from 'node:crypto';
import { TenancyConfigError } from '../errors.js';
import type { TenantId } from '../scoping/tenant-key.js';

const schemaPattern = /^[a-z_][a-z0-9_]{0,62}$/;
/** Keys kept readable: lower-case letters and digits, single dashes between them (integers, lower-case uuids). */
const plainKey = /^[a-z0-9]+(-[a-z0-9]+)*$/;
/** PostgreSQL truncates identifiers beyond 63 bytes (NAMEDATALEN - 1). */
const maxLength = 63;
const hashLength = 16;

/**
 * A name for a tenant's storage (schema, database, database file) that no other tenant
 * key maps to, at most 63 characters of a-z, 0-9 and _ (a plain identifier on
 * PostgreSQL, MySQL and any file system, letter case included):
 * - `<prefix><key>` with `-` as `_` when the key is lower-case letters and digits with
 *   single dashes between them: integers (`tenant_42`) and lower-case uuids (uuid keys
 *   are lower-cased first, so any letter case of one uuid is the same tenant);
 * - otherwise `<prefix><key lower-cased, other characters as _, cut short>__<16 hex
 *   digits of the key's SHA-256>`: `a_b` → `tenant_a_b__…`, `A_B` → `tenant_a_b__…`
 *   with another hash, `a-b` → `tenant_a_b`.
 * The two forms never meet: only the second contains `__`. `prefix` defaults to `'tenant_'`.
 *
 * @example
 * tenantStorageName(42)            // 'tenant_42'
 * tenantStorageName('Acme_Corp')   // 'tenant_acme_corp__' + 16 hex digits
 * new Tenancy(ds, { strategy: 'database', database: {
 *   dataSourceOptions: (t) => ({ type: 'postgres', url: `postgres://…/${tenantStorageName(t)}` }) } });
 */
export function tenantStorageName(tenantId: TenantId, prefix = 'tenant_'): string {
  if (!/^[a-z_][a-z0-9_]{0,19}$/.test(prefix) || prefix.includes('__')) {
    throw new TenancyConfigError(`tenantStorageName() was given the prefix ${JSON.stringify(prefix)}; use at most 20 of a-z, 0-9 and _ (no "__"), starting with a letter or _.`, {
      operation: 'tenantStorageName',
    });
  }
  const key = String(tenantId);
  if (plainKey.test(key) && prefix.length + key.length <= maxLength) return prefix + key.replace(/-/g, '_');
  const hash = createHash('sha256').update(key, 'utf8').digest('hex').slice(0, hashLength);
  const readable = key.toLowerCase().replace(/[^a-z0-9]/g, '_').slice(0, maxLength - prefix.length - 2 - hashLength);
  return `${prefix}${readable}__${hash}`;
}

/**
 * The default schema of a tenant: `tenantStorageName(tenantId)`, e.g. `tenant_42`.
 * Distinct tenants always get distinct schemas (`a-b`, `a_b` and `A_B` included).
 */
export function defaultSchemaName(tenantId: TenantId): string {
  return tenantStorageName(tenantId);
}

/** Schema names end up in DDL and in search_path: only plain lower-case identifiers are accepted. */
export function validSchemaName(name: unknown, tenantId: TenantId): string {
  if (typeof name !== 'string' || !schemaPattern.test(name) || name === 'public' || name.startsWith('pg_')) {
    throw new TenancyConfigError(
      `schemaName(${JSON.stringify(tenantId)}) returned ${JSON.stringify(name)}; a tenant schema must be a lower-case identifier ([a-z_][a-z0-9_]*, at most 63), not public or pg_*.`,
      { operation: 'schemaName', tenant: tenantId },
    );
  }
  return name;
}
