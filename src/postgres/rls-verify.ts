import type { QueryRunner } from 'typeorm';
import type { ScopeRegistry } from '../scoping/scope-registry.js';
import type { ScopedEntity } from '../scoping/scope-registry.js';
import { policyPredicate, qualifiedTable, tenantTablePolicies } from './policy-sql.js';
import type { ResolvedRowLevelSecurity } from './rls-options.js';

/** One thing `tenancy.rls.verify()` found wrong, with the table or role it is about. */
export interface RowLevelSecurityProblem {
  readonly kind: 'no-rls' | 'not-forced' | 'no-policy' | 'policy-drift' | 'no-tenant-index' | 'role-bypasses-rls';
  /** The table (schema-qualified when it has a schema) or role concerned. */
  readonly subject: string;
  readonly message: string;
}

export interface RowLevelSecurityReport {
  readonly ok: boolean;
  readonly problems: RowLevelSecurityProblem[];
}

// PostgreSQL stores policies as parsed expressions and prints them with its own
// parentheses and casts; compare both sides with those stripped.
function canonical(expression: string): string {
  return expression.replace(/::text\b/g, '').replace(/["()\s]/g, '').toLowerCase();
}

interface TableRow {
  relrowsecurity: boolean;
  relforcerowsecurity: boolean;
}

/** Checks the live database against what the metadata generates. Read-only. */
export async function verifyRowLevelSecurity(registry: ScopeRegistry, rls: ResolvedRowLevelSecurity, runner: QueryRunner): Promise<RowLevelSecurityReport> {
  const problems: RowLevelSecurityProblem[] = [];
  const [role] = (await runner.query('SELECT current_user AS name, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user')) as Array<{
    name: string;
    rolsuper: boolean;
    rolbypassrls: boolean;
  }>;
  if (role && (role.rolsuper || role.rolbypassrls)) {
    problems.push({
      kind: 'role-bypasses-rls',
      subject: role.name,
      message: `The connected role ${role.name} is ${role.rolsuper ? 'a superuser' : 'BYPASSRLS'}: policies do not apply to it. Connect as a NOSUPERUSER NOBYPASSRLS role.`,
    });
  }
  const seen = new Set<string>();
  for (const scoped of registry.scopedEntities) {
    const table = qualifiedTable(scoped.metadata);
    if (seen.has(table)) continue;
    seen.add(table);
    const [row] = (await runner.query('SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = to_regclass($1)', [table])) as TableRow[];
    if (!row?.relrowsecurity) problems.push({ kind: 'no-rls', subject: table, message: `${table} does not have row level security enabled.` });
    else if (!row.relforcerowsecurity) {
      problems.push({ kind: 'not-forced', subject: table, message: `${table} does not FORCE row level security: its owner bypasses the policy.` });
    }
    const policies = (await runner.query(
      'SELECT pg_get_expr(polqual, polrelid) AS using, pg_get_expr(polwithcheck, polrelid) AS check FROM pg_policy WHERE polrelid = to_regclass($1) AND polname = $2',
      [table, rls.policyName],
    )) as Array<{ using: string | null; check: string | null }>;
    const expected = canonical(policyPredicate(scoped, rls));
    if (policies.length === 0) {
      problems.push({ kind: 'no-policy', subject: table, message: `${table} has no policy "${rls.policyName}". Run tenancy.rls.install() or its migration.` });
    } else if (canonical(policies[0]!.using ?? '') !== expected || canonical(policies[0]!.check ?? '') !== expected) {
      problems.push({
        kind: 'policy-drift',
        subject: table,
        message: `Policy "${rls.policyName}" on ${table} differs from the metadata (USING ${policies[0]!.using}). Re-run tenancy.rls.install().`,
      });
    }
    const indexed = (await runner.query(
      `SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
       WHERE i.indrelid = to_regclass($1) AND a.attname = $2 LIMIT 1`,
      [table, scoped.column.databaseName],
    )) as unknown[];
    if (indexed.length === 0) {
      problems.push({ kind: 'no-tenant-index', subject: table, message: `${table} has no index leading with ${scoped.column.databaseName}: every tenant query scans the table.` });
    }
  }
  const tenantTable = registry.rowScope(registry.tenantKey.column.entityMetadata);
  if (tenantTable) problems.push(...(await verifyTenantTable(tenantTable, rls, runner)));
  return { ok: problems.length === 0, problems };
}

/** The tenant table: forced RLS, and its three policies as the metadata generates them. */
async function verifyTenantTable(tenantTable: ScopedEntity, rls: ResolvedRowLevelSecurity, runner: QueryRunner): Promise<RowLevelSecurityProblem[]> {
  const problems: RowLevelSecurityProblem[] = [];
  const table = qualifiedTable(tenantTable.metadata);
  const [row] = (await runner.query('SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = to_regclass($1)', [table])) as TableRow[];
  if (!row?.relrowsecurity || !row.relforcerowsecurity) {
    problems.push({
      kind: row?.relrowsecurity ? 'not-forced' : 'no-rls',
      subject: table,
      message: `The tenant table ${table} does not ${row?.relrowsecurity ? 'FORCE' : 'enable'} row level security: raw SQL of a tenant could read or change other tenants' rows.`,
    });
  }
  const { rows, changes } = tenantTablePolicies(tenantTable, rls);
  const expected: Array<[string, string | null, string | null]> = [
    [rls.policyName, rows, rows],
    [`${rls.policyName}_insert`, null, changes],
    [`${rls.policyName}_delete`, changes, null],
  ];
  for (const [name, using, check] of expected) {
    const [policy] = (await runner.query('SELECT pg_get_expr(polqual, polrelid) AS using, pg_get_expr(polwithcheck, polrelid) AS check FROM pg_policy WHERE polrelid = to_regclass($1) AND polname = $2', [
      table,
      name,
    ])) as Array<{ using: string | null; check: string | null }>;
    const same = (actual: string | null, wanted: string | null) => (wanted === null ? actual === null : canonical(actual ?? '') === canonical(wanted));
    if (!policy) problems.push({ kind: 'no-policy', subject: table, message: `The tenant table ${table} has no policy "${name}". Run tenancy.rls.install() or its migration.` });
    else if (!same(policy.using, using) || !same(policy.check, check)) {
      problems.push({ kind: 'policy-drift', subject: table, message: `Policy "${name}" on the tenant table ${table} differs from the metadata. Re-run tenancy.rls.install().` });
    }
  }
  return problems;
}
