import type { QueryRunner } from 'typeorm';
import type { ScopeRegistry } from '../scoping/scope-registry.js';
import type { ScopedEntity } from '../scoping/scope-registry.js';
import { policyPredicate, qualifiedTable, tenantTablePolicies } from './policy-sql.js';
import type { ResolvedRowLevelSecurity } from './rls-options.js';

/** One thing `tenancy.rls.verify()` found wrong, with the table or role it is about. */
export interface RowLevelSecurityProblem {
  readonly kind:
    | 'no-rls'
    | 'not-forced'
    | 'no-policy'
    | 'policy-drift'
    | 'no-tenant-index'
    | 'role-bypasses-rls'
    | 'role-can-bypass-rls'
    | 'member-of-bypass-role'
    | 'bypass-login';
  /** The table (schema-qualified when it has a schema) or role concerned. */
  readonly subject: string;
  readonly message: string;
}

export interface RowLevelSecurityReport {
  /** True when there is no problem (warnings do not count). */
  readonly ok: boolean;
  readonly problems: RowLevelSecurityProblem[];
  /**
   * Risks of a configuration that works: the connected role is a member of the configured
   * `bypassRole` (anything that runs SQL on its connections unvetted could switch to it).
   */
  readonly warnings: RowLevelSecurityProblem[];
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
export async function verifyRowLevelSecurity(
  registry: ScopeRegistry,
  rls: ResolvedRowLevelSecurity,
  runner: QueryRunner,
  bypassRunner?: () => QueryRunner,
): Promise<RowLevelSecurityReport> {
  const problems: RowLevelSecurityProblem[] = [];
  const warnings: RowLevelSecurityProblem[] = [];
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
  // Roles the connected role can switch to (SET ROLE) that ignore policies (a superuser or BYPASSRLS role is reported above).
  const reachable = role?.rolsuper || role?.rolbypassrls ? [] : (await runner.query(
    `SELECT r.rolname AS name, r.rolsuper, r.rolbypassrls FROM pg_roles r
     WHERE r.rolname <> current_user AND (r.rolsuper OR r.rolbypassrls) AND pg_has_role(current_user, r.oid, 'MEMBER') ORDER BY r.rolname`,
  )) as Array<{ name: string; rolsuper: boolean; rolbypassrls: boolean }>;
  for (const other of reachable) {
    const what = other.rolsuper ? 'a superuser' : 'BYPASSRLS';
    if (other.name === rls.bypassRole) {
      warnings.push({
        kind: 'member-of-bypass-role',
        subject: other.name,
        message:
          `The connected role is a member of the bypass role ${other.name} (${what}), as rowLevelSecurity.bypassRole requires: raw SQL is vetted, ` +
          'but code the vetting cannot see into (a function that runs SET ROLE) could switch to it. Prefer bypassLogin, and REVOKE the membership.',
      });
    } else {
      problems.push({
        kind: 'role-can-bypass-rls',
        subject: other.name,
        message: `The connected role can switch to ${other.name}, which is ${what}: policies would not apply after SET ROLE. REVOKE ${other.name} FROM the application role.`,
      });
    }
  }
  if (rls.bypassLogin && bypassRunner) problems.push(...(await verifyBypassLogin(rls.bypassLogin.username, bypassRunner)));
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
  return { ok: problems.length === 0, problems, warnings };
}

/** The bypass login connects and ignores policies. */
async function verifyBypassLogin(username: string, create: () => QueryRunner): Promise<RowLevelSecurityProblem[]> {
  const runner = create();
  try {
    const [row] = (await runner.query('SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user')) as Array<{ rolsuper: boolean; rolbypassrls: boolean }>;
    if (row?.rolbypassrls) return [];
    return [
      {
        kind: 'bypass-login',
        subject: username,
        message: `The bypass login ${username} is ${row?.rolsuper ? 'a superuser' : 'not BYPASSRLS'}: ${row?.rolsuper ? 'give { safe: false } a NOSUPERUSER BYPASSRLS login' : `ALTER ROLE ${username} BYPASSRLS`}.`,
      },
    ];
  } catch (error) {
    return [{ kind: 'bypass-login', subject: username, message: `The bypass login ${username} cannot connect: ${error instanceof Error ? error.message : String(error)}.` }];
  } finally {
    await runner.release();
  }
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
