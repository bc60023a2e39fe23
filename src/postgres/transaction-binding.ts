import type { EntitySubscriberInterface, QueryRunner } from 'typeorm';
import { UnsafeQueryError } from '../errors.js';
import type { ScopeContext } from '../scoping/scope-context.js';
import type { ScopeRegistry } from '../scoping/scope-registry.js';
import { setConfigSql } from './policy-sql.js';
import { transactionDepthOf } from '../internal/typeorm/instance-members.js';
import { newTenantRunner, scopeOfRunner, tenantRunner, underlyingRunner } from '../scoping/runner-scope.js';
import { asOperationTransaction } from '../scoping/operation-transactions.js';
import type { ResolvedRowLevelSecurity } from './rls-options.js';
import { createBypassRunner, isBypassRunner } from './bypass-login.js';
import { releaseConnection, rollbackOrDestroy, withConnectionCause } from './connection-hygiene.js';
import { pgClientOf } from '../internal/typeorm/postgres-connection.js';
import { armTransactionBinding, autocommitBindingOf, type BindingSettings, canFuse, setAutocommitBinding, takeTransactionBinding } from '../internal/pg/fusing-client.js';

// What the open transaction of a runner is bound to: a tenant (or the bypass) and its tenant id.
const bindings = new WeakMap<QueryRunner, string>();

// The binding in force is not known: after a savepoint's rollback, or a binding statement that
// failed (it may have run on the server). The next binding resets the role too.
const UNKNOWN = 'unknown';

// A binding whose statements are on their way: operations that need the same one wait for it.
const pendingBindings = new WeakMap<QueryRunner, Promise<void>>();

// The role a transaction had before its first bypass, restored when a scoped operation follows.
const rolesBeforeBypass = new WeakMap<QueryRunner, string>();

// Operations running on a transaction's runner, and the binding they need: operations that need
// another binding must not overlap them (their statements would interleave with its SET ROLE).
const inFlight = new WeakMap<QueryRunner, { key: string; count: number }>();

function bindingKey(scope: ScopeContext): string {
  return `${scope.safe ? 'tenant' : 'bypass'}:${String(scope.tenantId)}`;
}

/** Refuses `{ safe: false }` in RLS mode when neither a bypass login nor a bypass role is configured. */
export function assertBypassAllowed(rls: ResolvedRowLevelSecurity | undefined, tenant: unknown): void {
  if (rls && !rls.bypassRole && !rls.bypassLogin) {
    throw new UnsafeQueryError(
      '{ safe: false } with row-level security needs a role with BYPASSRLS: the database enforces the tenant otherwise. ' +
        "Create a login for it (CREATE ROLE tenancy_bypass LOGIN BYPASSRLS PASSWORD '...', not granted to the app role) and pass " +
        "rowLevelSecurity: { bypassLogin: { username: 'tenancy_bypass', password } } (or bypassRole, with its risk: see the README).",
      { operation: 'safe: false', tenant },
    );
  }
}

/**
 * The runner an operation outside an open transaction runs on, under its scope: a new one of
 * the bypass login's pool for `{ safe: false }` when there is one, else the given runner or a
 * new one of the DataSource. `owned`: made here, released by the operation.
 */
function operationRunner(registry: ScopeRegistry, scope: ScopeContext, given: QueryRunner | undefined): { runner: QueryRunner; owned: boolean } {
  const login = registry.rls?.bypassLogin;
  if (!scope.safe && login) return { runner: tenantRunner(registry, createBypassRunner(registry.dataSource, login), scope, true), owned: true };
  if (given) return { runner: tenantRunner(registry, given, scope, false), owned: false };
  return { runner: newTenantRunner(registry, scope), owned: true };
}

/**
 * The binding in force on the runner's open transaction, or fused into each of its autocommit
 * statements, if any: what the raw SQL guard protects.
 */
export function bindingOf(runner: QueryRunner): string | undefined {
  const base = underlyingRunner(runner);
  return bindings.get(base) ?? autocommitBindingOf(pgClientOf(base));
}

/**
 * The settings that bind a connection with nothing bound yet to `scope`, to be fused with a
 * statement (fusing-client.ts): the RLS setting, or the bypass role, or the tenant schema's
 * `search_path`. `[]`: bound without a setting (the bypass login is BYPASSRLS already).
 * `undefined`: nothing to bind (no tenant), or a binding that cannot be fused (a bypass role
 * inside a transaction reads the role to restore first).
 */
function freshBinding(runner: QueryRunner, scope: ScopeContext, registry: ScopeRegistry, inTransaction: boolean): BindingSettings | undefined {
  const { rls, schemas } = registry;
  if (rls && !scope.safe) {
    if (isBypassRunner(underlyingRunner(runner))) return [];
    if (inTransaction || !rls.bypassRole) return undefined;
    return [['role', rls.bypassRole]];
  }
  if (scope.tenantId === undefined) return undefined;
  if (rls) return [[rls.setting, String(scope.tenantId)]];
  if (schemas) return [['search_path', schemas.searchPath(scope.tenantId)]];
  return undefined;
}

/**
 * Binds the open transaction of `runner` to `scope`: the RLS setting and/or the
 * tenant schema's `search_path`, each a transaction-local `set_config(name, value,
 * true)` with bound parameters, in one statement; for `{ safe: false }` under RLS
 * the bypass role, set the same way (the role in force before is read once and put
 * back when a scoped operation follows in the same transaction). All end with the
 * transaction, so a pooled connection never carries a tenant to its next user.
 * `{ safe: false }` lifts the tenant criterion, not the storage: the tenant schema
 * stays first on `search_path`. A scope without a tenant sets the RLS setting to ''
 * (no rows) once the transaction was bound before; the default schema is used.
 */
async function bind(runner: QueryRunner, scope: ScopeContext, registry: ScopeRegistry): Promise<void> {
  const key = bindingKey(scope);
  // State is kept per connection: a view of a runner (runner-view.ts) shares its runner's.
  const base = underlyingRunner(runner);
  const previous = bindings.get(base);
  // Bound, or being bound by an operation started just before: its statements go first.
  if (previous === key) return pendingBindings.get(base);
  const binding = sendBinding(runner, scope, registry, key, previous);
  pendingBindings.set(base, binding);
  try {
    await binding;
  } finally {
    if (pendingBindings.get(base) === binding) pendingBindings.delete(base);
  }
}

async function sendBinding(runner: QueryRunner, scope: ScopeContext, registry: ScopeRegistry, key: string, previous: string | undefined): Promise<void> {
  const { rls, schemas } = registry;
  const settings: Array<[string, string]> = [];
  let bypass: string | undefined;
  if (rls && !scope.safe && isBypassRunner(underlyingRunner(runner))) {
    // Connected as the bypass login: BYPASSRLS already, nothing to switch (the guard still vets its statements).
    bindings.set(underlyingRunner(runner), key);
    return;
  } else if (rls && !scope.safe) {
    assertBypassAllowed(rls, scope.tenantId);
    if (!rls.bypassRole) {
      throw new UnsafeQueryError(
        '{ safe: false } inside a tenant transaction would need the bypass on that transaction\'s own connection, which is logged in as the app role; ' +
          'bypassLogin is another connection. Run the { safe: false } operation outside the transaction (on tenancy.manager(t)), ' +
          'or also configure rowLevelSecurity.bypassRole (the app role then must be a member of it; see the README for the risk).',
        { operation: 'safe: false', tenant: scope.tenantId },
      );
    }
    bypass = rls.bypassRole;
  } else if (rls && (previous?.startsWith('bypass:') || previous === UNKNOWN)) {
    const before = rolesBeforeBypass.get(underlyingRunner(runner));
    if (before !== undefined) settings.push(['role', before]);
  }
  if (rls && scope.safe && (scope.tenantId !== undefined || previous !== undefined)) settings.push([rls.setting, scope.tenantId === undefined ? '' : String(scope.tenantId)]);
  if (schemas && scope.tenantId !== undefined) settings.push(['search_path', schemas.searchPath(scope.tenantId)]);
  if (!settings.length && bypass === undefined) return;
  const base = underlyingRunner(runner);
  // Recorded before the statements go out, so a later bind on this runner compares against it.
  bindings.set(base, key);
  try {
    if (bypass !== undefined) {
      // The first bypass of a transaction reads the role to come back to (a `-c role=` of the
      // connection, or a SET ROLE of its pool hook), in a statement of its own.
      if (!rolesBeforeBypass.has(base)) {
        const [row] = (await runner.query(`SELECT current_setting('role') AS role`)) as Array<{ role: string }>;
        rolesBeforeBypass.set(base, row!.role);
      }
      settings.push(['role', bypass]);
    }
    await runner.query(setConfigSql(settings.length), settings.flat());
  } catch (error) {
    bindings.set(base, UNKNOWN);
    throw error;
  }
}

/** Binds every transaction started on a runner of a tenant operation (persistence, transaction(), ...). */
export function transactionBindingSubscriber(registry: ScopeRegistry): EntitySubscriberInterface {
  const ended = (runner: QueryRunner) => {
    bindings.delete(underlyingRunner(runner));
    rolesBeforeBypass.delete(underlyingRunner(runner));
  };
  // While a COMMIT or ROLLBACK is on its way (and if it fails) the binding in force is not known.
  const ending = (event: { queryRunner: QueryRunner }) => {
    const base = underlyingRunner(event.queryRunner);
    if (bindings.has(base)) bindings.set(base, UNKNOWN);
  };
  return {
    // A bound transaction: its binding goes with its first statement after START TRANSACTION (fusing-client.ts).
    async beforeTransactionStart(event) {
      const runner = event.queryRunner;
      const scope = scopeOfRunner(runner);
      if (scope?.registry !== registry || transactionDepthOf(runner) !== 0 || bindings.has(underlyingRunner(runner))) return;
      const settings = freshBinding(runner, scope, registry, true);
      if (!settings?.length) return;
      // The connection START TRANSACTION will go out on (it is taken now instead of at the statement).
      const client: unknown = pgClientOf(runner) ?? (typeof runner.connect === 'function' ? await runner.connect() : undefined);
      if (client && typeof client === 'object' && canFuse(client)) armTransactionBinding(client, settings, bindingKey(scope));
    },
    async afterTransactionStart(event) {
      const scope = scopeOfRunner(event.queryRunner);
      if (scope?.registry !== registry || transactionDepthOf(event.queryRunner) !== 1) return;
      const fused = takeTransactionBinding(pgClientOf(event.queryRunner));
      if (fused !== undefined && fused === bindingKey(scope)) bindings.set(underlyingRunner(event.queryRunner), fused);
      else await bind(event.queryRunner, scope, registry);
    },
    beforeTransactionCommit: ending,
    beforeTransactionRollback: ending,
    afterTransactionCommit(event) {
      if (transactionDepthOf(event.queryRunner) === 0) ended(event.queryRunner);
    },
    // A savepoint's rollback undoes the settings made since it: bind again next time, role included.
    afterTransactionRollback(event) {
      if (transactionDepthOf(event.queryRunner) === 0) ended(event.queryRunner);
      else bindings.set(underlyingRunner(event.queryRunner), UNKNOWN);
    },
  };
}

/**
 * Runs `work` on a transaction's runner with its binding, refusing to overlap it with
 * operations that need another binding (a bypass and a scoped operation at once):
 * their statements would interleave with each other's role and settings.
 */
async function exclusively<T>(view: QueryRunner, key: string, work: () => Promise<T>): Promise<T> {
  const runner = underlyingRunner(view);
  let entry = inFlight.get(runner);
  if (entry && entry.count > 0 && entry.key !== key) {
    throw new UnsafeQueryError(
      '{ safe: false } and tenant-scoped operations cannot run at the same time in one transaction (their statements would interleave). ' +
        'Await one before starting the other, or run them in separate transactions.',
      { operation: 'transaction' },
    );
  }
  if (!entry || entry.count === 0) {
    entry = { key, count: 0 };
    inFlight.set(runner, entry);
  }
  entry.count++;
  try {
    return await work();
  } finally {
    entry.count--;
  }
}

/**
 * Runs `fn` on a runner bound to `scope`: the given runner's open transaction (bound now if it
 * is not yet, the binding travelling with its next statement), or, for an autocommit operation,
 * each statement fused with the binding (fusedAutocommit) — or, where fusing cannot work, a short
 * transaction of its own (START TRANSACTION, set_config, the statements, COMMIT).
 */
export async function inScopedTransaction<T>(
  registry: ScopeRegistry,
  scope: ScopeContext,
  runner: QueryRunner | undefined,
  fn: (runner: QueryRunner) => Promise<T>,
  options: { fusable?: boolean } = {},
): Promise<T> {
  if (runner?.isTransactionActive) {
    return exclusively(runner, bindingKey(scope), async () => {
      await bind(runner, scope, registry);
      return fn(runner);
    }).catch((error: unknown) => {
      throw withConnectionCause(error, runner);
    });
  }
  // Inside an operation already running fused with this binding on this runner (a builder re-run on its runner).
  if (runner && !runner.isReleased && autocommitBindingOf(pgClientOf(underlyingRunner(runner))) === bindingKey(scope)) return fn(runner);
  if (!scope.safe) assertBypassAllowed(registry.rls, scope.tenantId);
  const given = runner && !runner.isReleased ? runner : undefined;
  // The runner carries the scope: the transaction start binds it (transactionBindingSubscriber).
  const { runner: own, owned } = operationRunner(registry, scope, given);
  try {
    const fused = options.fusable === false ? undefined : await fusedAutocommit(own, scope, registry);
    if (fused) return await fused(() => fn(own));
    // Inside the try: a binding that fails as the transaction starts must still roll back and release.
    // The transaction is this operation's: a statement failing in it ends with the operation.
    return await asOperationTransaction(own, async () => {
      await own.startTransaction();
      // A given runner bound to the tenant carries its scoped manager: a bypass binds here.
      await bind(own, scope, registry);
      const result = await fn(own);
      await own.commitTransaction();
      return result;
    });
  } catch (error) {
    // A ROLLBACK that cannot run or fails destroys the connection: it never goes back to the pool in doubt.
    await rollbackOrDestroy(own);
    throw withConnectionCause(error, own);
  } finally {
    if (owned) await releaseConnection(own);
  }
}

// Operations running fused on a connection, and their binding: another binding must not overlap them.
const fusedInFlight = new WeakMap<object, { key: string; count: number }>();

/**
 * One round trip per statement: when the runner's connection can fuse (fusing-client.ts), the
 * operation runs without a transaction of its own and each of its statements carries the
 * binding before the same Sync. Returns the runner for `work`, or undefined when the
 * operation must take today's path (no fusing client, `pipeline: true`, pg without
 * `getTransactionStatus`, pg-native, or a binding that cannot be fused).
 */
async function fusedAutocommit(runner: QueryRunner, scope: ScopeContext, registry: ScopeRegistry): Promise<(<T>(work: () => Promise<T>) => Promise<T>) | undefined> {
  const settings = freshBinding(runner, scope, registry, false);
  if (settings === undefined || typeof runner.connect !== 'function') return undefined;
  const client: unknown = await runner.connect();
  if (!client || typeof client !== 'object' || !canFuse(client)) return undefined;
  const key = bindingKey(scope);
  return async (work) => {
    let entry = fusedInFlight.get(client);
    if (entry && entry.count > 0 && entry.key !== key) {
      throw new UnsafeQueryError(
        'Two operations with different tenant bindings ran at the same time on one query runner (their statements would interleave). ' +
          'Await one before starting the other, or give each its own runner.',
        { operation: 'query', tenant: scope.tenantId },
      );
    }
    if (!entry || entry.count === 0) {
      entry = { key, count: 0 };
      fusedInFlight.set(client, entry);
      setAutocommitBinding(client, { settings, key });
    }
    entry.count++;
    try {
      return await work();
    } finally {
      if (--entry.count === 0) setAutocommitBinding(client, undefined);
    }
  };
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
  const { runner } = operationRunner(registry, scope, undefined);
  try {
    await runner.startTransaction();
  } catch (error) {
    await rollbackOrDestroy(runner);
    await releaseConnection(runner);
    throw withConnectionCause(error, runner);
  }
  let finished = false;
  return {
    runner,
    // Called from stream events: never rejects (a failed COMMIT of a read is rolled back, the connection released).
    finish: async (ok) => {
      if (finished) return;
      finished = true;
      try {
        if (runner.isTransactionActive && ok) await runner.commitTransaction();
      } catch {
        // A failed COMMIT is rolled back (or the connection destroyed) below.
      } finally {
        await rollbackOrDestroy(runner);
        await releaseConnection(runner);
      }
    },
  };
}
