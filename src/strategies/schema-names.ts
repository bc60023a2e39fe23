import { TenancyConfigError } from '../errors.js';
import type { TenantId } from '../scoping/tenant-key.js';

const schemaPattern = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * The default schema of a tenant: `tenant_<id>`, lower-cased, with every character
 * other than a-z, 0-9 and _ turned into _ (so uuid keys work).
 */
export function defaultSchemaName(tenantId: TenantId): string {
  return `tenant_${String(tenantId).toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;
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
