import type { EntitySubscriberInterface, QueryRunner } from 'typeorm';
import { UnsafeQueryError } from '../errors.js';
import type { ScopeContext } from '../scoping/scope-context.js';
import type { ScopeRegistry } from '../scoping/scope-registry.js';
import { setConfigSql, setLocalRoleSql } from './policy-sql.js';
import { transactionDepthOf } from '../internal/typeorm/instance-members.js';
import type { ResolvedRowLevelSecurity } from './rls-options.js';

// What the open transaction of a runner is bound to: a tenant (or the bypass) and its tenant id.
const bindings = new WeakMap<QueryRunner, string>();

// After a savepoint's rollback: the binding in force is not known (a bypass role may be back).
const UNKNOWN = 'unknown';

function bindingKey(scope: ScopeContext): string {
  return `${scope.safe ? 'tenant' : 'bypass'}:${String(scope.tenantId)}`;
}

/** Refuses `{ safe: false }` in RLS mode when no bypass role is configured. */
export function assertBypassAllowed(rls: ResolvedRowLevelSecurity | undefined, tenant: unknown): void {
  if (rls && !rls.bypassRole) {
    throw new UnsafeQueryError(
      '{ safe: false } with row-level security needs a role with BYPASSRLS: the database enforces the tenant otherwise. ' +
        "Create one (CREATE ROLE tenancy_bypass NOLOGIN BYPASSRLS; GRANT tenancy_bypass TO <app role>) and pass rowLevelSecurity: { bypassRole: 'tenancy_bypass' }.",
      { operation: 'safe: false', tenant },
    );
  }
}

/**
 * Binds the open transaction of `runner` to `scope` in one statement: the RLS
 * setting and/or the tenant schema's `search_path`, each a transaction-local
 * `set_config(name, value, true)` with bound parameters; `SET LOCAL ROLE
 * <bypassRole>` for `{ safe: false }` under RLS. All end with the transaction, so
 * a pooled connection never carries a tenant to its next user. `{ safe: false }`
 * lifts the tenant criterion, not the storage: the tenant schema stays first on
 * `search_path`. A scope without a tenant binds nothing: policies then show no
 * rows, the default schema is used.
 */
async function bind(runner: QueryRunner, scope: ScopeContext, registry: ScopeRegistry): Promise<void> {
  const key = bindingKey(scope);
  const previous = bindings.get(runner);
  if (previous === key) return;
  const { rls, schemas } = registry;
  const statements: Array<[string, unknown[]?]> = [];
  if (rls && !scope.safe) {
    assertBypassAllowed(rls, scope.tenantId);
    statements.push([setLocalRoleSql(rls.bypassRole!)]);
  } else if (rls && (previous?.startsWith('bypass:') || previous === UNKNOWN)) {
    // Back from a bypass in the same transaction: the connection's own role (DEFAULT keeps a
    // `-c role=...` of its options; NONE would be the login role), so the policies apply again.
    statements.push(['SET LOCAL role TO DEFAULT']);
  }
  const settings: Array<[string, string]> = [];
  if (scope.tenantId !== undefined) {
    if (rls && scope.safe) settings.push([rls.setting, String(scope.tenantId)]);
    if (schemas) settings.push(['search_path', schemas.searchPath(scope.tenantId)]);
  }
  if (settings.length) statements.push([setConfigSql(settings.length), settings.flat()]);
  if (!statements.length) return;
  // Recorded before the statements go out: an operation started meanwhile on this runner
  // compares against it, so it never skips its own binding behind a bypass that is queued.
  bindings.set(runner, key);
  try {
    for (const [sql, parameters] of statements) await runner.query(sql, parameters);
  } catch (error) {
    bindings.delete(runner);
    throw error;
  }
}

/** Binds every transaction started while a tenant scope is ambient (persistence, transaction(), ...). */
export function transactionBindingSubscriber(registry: ScopeRegistry): EntitySubscriberInterface {
  return {
    async afterTransactionStart(event) {
      const scope = registry.ambient.getStore();
      if (scope && transactionDepthOf(event.queryRunner) === 1) await bind(event.queryRunner, scope, registry);
    },
    afterTransactionCommit(event) {
      if (transactionDepthOf(event.queryRunner) === 0) bindings.delete(event.queryRunner);
    },
    // A savepoint's rollback undoes the settings made since it, maybe a role reset among them:
    // bind again next time, role included.
    afterTransactionRollback(event) {
      if (transactionDepthOf(event.queryRunner) === 0) bindings.delete(event.queryRunner);
      else bindings.set(event.queryRunner, UNKNOWN);
    },
  };
}

/**
 * Runs `fn` on a runner whose transaction is bound to `scope`: the given runner's
 * open transaction (bound now if it is not yet), or a short transaction of its
 * own for an autocommit operation. Adds one statement inside an open transaction,
 * three (BEGIN, set_config, COMMIT) around an autocommit one.
 */
export async function inScopedTransaction<T>(
  registry: ScopeRegistry,
  scope: ScopeContext,
  runner: QueryRunner | undefined,
  fn: (runner: QueryRunner) => Promise<T>,
): Promise<T> {
  if (runner?.isTransactionActive) {
    await bind(runner, scope, registry);
    return fn(runner);
  }
  if (!scope.safe) assertBypassAllowed(registry.rls, scope.tenantId);
  const own = runner && !runner.isReleased ? runner : registry.dataSource.createQueryRunner();
  return registry.within(scope, async () => {
    await own.startTransaction();
    try {
      const result = await fn(own);
      await own.commitTransaction();
      return result;
    } catch (error) {
      if (own.isTransactionActive) await own.rollbackTransaction().catch(() => undefined);
      throw error;
    } finally {
      if (own !== runner) await own.release();
    }
  });
}

/**
 * For results that outlive the call (stream()): opens a bound transaction and
 * returns the runner with a `finish` to call when the consumer is done.
 */
export async function openScopedTransaction(
  registry: ScopeRegistry,
  scope: ScopeContext,
): Promise<{ runner: QueryRunner; finish: (ok: boolean) => Promise<void> }> {
  if (!scope.safe) assertBypassAllowed(registry.rls, scope.tenantId);
  const runner = registry.dataSource.createQueryRunner();
  await registry.within(scope, () => runner.startTransaction());
  let finished = false;
  return {
    runner,
    finish: async (ok) => {
      if (finished) return;
      finished = true;
      try {
        if (runner.isTransactionActive) await (ok ? runner.commitTransaction() : runner.rollbackTransaction());
      } finally {
        await runner.release();
      }
    },
  };
}
