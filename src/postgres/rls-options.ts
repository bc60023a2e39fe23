import type { DataSource } from 'typeorm';
import { TenancyConfigError } from '../errors.js';

/** Options of `new Tenancy(dataSource, { rowLevelSecurity })` (PostgreSQL only). */
export interface RowLevelSecurityOptions {
  /** The transaction-local setting that carries the tenant id. Defaults to `'app.tenant_id'`. */
  setting?: string;
  /**
   * The login `{ safe: false }` connects as: a LOGIN BYPASSRLS role the application role is
   * not a member of, on a pool of its own (the DataSource's host, database and `extra`, this
   * user and password). Recommended: no SQL on the application's connections can reach it.
   * A `{ safe: false }` operation inside a tenant transaction cannot move to that pool; it
   * needs `bypassRole` as well, or is refused.
   */
  bypassLogin?: BypassLogin;
  /**
   * A role with BYPASSRLS that `{ safe: false }` switches to with `set_config('role', ..., true)`
   * inside its transaction. The application role must be a member of it, so anything that runs
   * SQL on the application's connections and is not vetted (a function's body) could switch
   * to it too: prefer `bypassLogin`. Without either, `{ safe: false }` is refused in RLS mode.
   */
  bypassRole?: string;
  /** Name of the policy created on every scoped table. Defaults to `'tenancy_isolation'`. */
  policyName?: string;
  /** Run `tenancy.rls.verify()` when the DataSource initializes and fail on any problem. Defaults to `false`. */
  verifyOnStartup?: boolean;
  /**
   * Send the binding fused with each autocommit statement as a named prepared statement
   * (parsed once per connection) instead of an unnamed one. Slightly faster on direct
   * connections; behind PgBouncer it needs 1.21 or later with `max_prepared_statements` set
   * (older versions fail with "prepared statement ... does not exist"). Defaults to `false`.
   */
  preparedBinding?: boolean;
}

/** The user and password of the login `{ safe: false }` connects as under row-level security. */
export interface BypassLogin {
  username: string;
  password?: string;
}

export interface ResolvedRowLevelSecurity {
  readonly setting: string;
  readonly bypassRole: string | undefined;
  readonly bypassLogin: BypassLogin | undefined;
  readonly policyName: string;
  readonly verifyOnStartup: boolean;
  readonly preparedBinding: boolean;
}

// Both end up inside SQL text (a policy expression, SET LOCAL ROLE), so they are
// validated strictly rather than escaped.
const settingPattern = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+$/i;
const identifierPattern = /^[a-z_][a-z0-9_$]{0,62}$/i;

export function resolveRowLevelSecurity(dataSource: DataSource, input: true | RowLevelSecurityOptions): ResolvedRowLevelSecurity {
  const type = dataSource.options.type;
  if (type !== 'postgres') {
    throw new TenancyConfigError(
      `rowLevelSecurity needs PostgreSQL, but this DataSource uses the ${type} driver. Remove the rowLevelSecurity option for ${type}.`,
      { operation: 'new Tenancy' },
    );
  }
  const options = input === true ? {} : input;
  const resolved = {
    setting: options.setting ?? 'app.tenant_id',
    bypassRole: options.bypassRole,
    bypassLogin: options.bypassLogin,
    policyName: options.policyName ?? 'tenancy_isolation',
    verifyOnStartup: options.verifyOnStartup ?? false,
    preparedBinding: options.preparedBinding ?? false,
  };
  if (!settingPattern.test(resolved.setting)) {
    throw new TenancyConfigError(`rowLevelSecurity.setting "${resolved.setting}" must look like "app.tenant_id" (letters, digits, _; one dot or more).`, {
      operation: 'new Tenancy',
    });
  }
  for (const [name, value] of [['bypassRole', resolved.bypassRole], ['policyName', resolved.policyName]] as const) {
    if (value !== undefined && !identifierPattern.test(value)) {
      throw new TenancyConfigError(`rowLevelSecurity.${name} "${value}" must be a plain identifier (letters, digits, _, $).`, { operation: 'new Tenancy' });
    }
  }
  const login = resolved.bypassLogin;
  if (login !== undefined && (typeof login !== 'object' || typeof login.username !== 'string' || !login.username || (login.password !== undefined && typeof login.password !== 'string'))) {
    throw new TenancyConfigError('rowLevelSecurity.bypassLogin must be { username: string, password?: string }: the BYPASSRLS login { safe: false } connects as.', {
      operation: 'new Tenancy',
    });
  }
  return resolved;
}
