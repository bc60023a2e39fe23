import type { QueryRunner } from 'typeorm';
import { runnerView, underlyingRunner } from '../internal/typeorm/runner-view.js';
import { markOperationRunner } from './known-rows.js';
import type { ScopeContext } from './scope-context.js';
import type { ScopeRegistry } from './scope-registry.js';

// A tenant operation carries its scope on the QueryRunner it runs on, not in an async context:
// - `runner.manager` is a TenantEntityManager of the operation's tenant, so TypeORM's persistence
//   (which builds through `queryRunner.manager`) and every subscriber event (`event.manager`) are
//   scoped to that tenant (rule 8);
// - the operation's exact scope (its `{ safe: false }` too) is recorded for the runner, so the
//   builders TypeORM makes on the DataSource with that runner (relation ids, relation loads)
//   get it (see Tenancy's DataSource builder).
// Runners a driver shares between callers (SQLite) get a view per operation (runner-view.ts).

const scopes = new WeakMap<QueryRunner, ScopeContext>();

/** The scope of the tenant operation running on `runner`, if one does. */
export function scopeOfRunner(runner: QueryRunner | undefined): ScopeContext | undefined {
  if (!runner) return undefined;
  const recorded = scopes.get(runner);
  if (recorded) return recorded;
  const manager = runner.manager as { scope?: ScopeContext } | undefined;
  return manager && typeof manager === 'object' && 'scope' in manager ? managerScope(manager) : undefined;
}

// A TenantEntityManager's scope (the context manager's can throw before initialize: then none).
function managerScope(manager: { scope?: ScopeContext }): ScopeContext | undefined {
  try {
    return manager.scope;
  } catch {
    return undefined;
  }
}

function sameTenant(a: ScopeContext | undefined, b: ScopeContext): boolean {
  return !!a && a.registry === b.registry && a.tenantId === b.tenantId;
}

/** The scope a runner's manager gets: the operation's tenant, scoped (a bypass operation's events still see a scoped manager). */
function managerScopeOf(scope: ScopeContext): ScopeContext {
  return scope.safe ? scope : { registry: scope.registry, tenantId: scope.tenantId, safe: true };
}

/**
 * Puts a runner under a tenant operation's scope and returns the runner to run on.
 * `owned`: the operation created the runner (and will release it); otherwise the caller gave it.
 * `needsScope`: TypeORM will build on the runner for the operation (persistence through
 * `runner.manager`, relation ids and relation loads through the DataSource, transaction callbacks);
 * otherwise only subscribers could ask, and an operation on its own runner records nothing when
 * the DataSource has no subscribers but the library's (no view, no extra manager: nothing to pay).
 * A runner already bound to a manager of the same tenant is used as it is.
 */
export function tenantRunner(registry: ScopeRegistry, runner: QueryRunner, scope: ScopeContext, owned: boolean, needsScope = true): QueryRunner {
  // Without a tenant, a bypass is plain TypeORM (the default manager outside tenancy.run()).
  if (scope.tenantId === undefined && !scope.safe) return runner;
  // Bound to this tenant already (a transaction's runner). A bypass there keeps the runner's
  // scoped manager: builders TypeORM makes on it (relation ids) stay scoped — stricter, never looser.
  if (!owned && sameTenant(scopeOfRunner(runner), scope)) return runner;
  const subscribed = registry.hasForeignSubscribers();
  if (owned && !needsScope && !subscribed) {
    // A runner of its own (PostgreSQL, MySQL): recording the scope costs a WeakMap entry.
    if (!registry.sharedRunners) {
      scopes.set(runner, scope);
      markOperationRunner(runner);
    }
    return runner;
  }
  const run = !owned || registry.sharedRunners ? runnerView(runner) : runner;
  registry.bindManager(run, managerScopeOf(scope));
  scopes.set(run, scope);
  // Made for this operation (a view of SQLite's shared runner too); a view of a runner the caller
  // gave stays on the caller's builder, which may run again later: not one operation's.
  if (owned) markOperationRunner(run);
  return run;
}

/** The runner a tenant operation runs on when it was given none: a new one of the DataSource, under `scope`. */
export function newTenantRunner(registry: ScopeRegistry, scope: ScopeContext, mode?: 'master' | 'slave', needsScope = true): QueryRunner {
  return tenantRunner(registry, registry.dataSource.createQueryRunner(mode), scope, true, needsScope);
}

/**
 * A view of a tenant operation's runner with TypeORM's plain manager and no scope: for
 * TypeORM's own infrastructure on that runner (the database result cache table).
 */
export function plainRunnerView(runner: QueryRunner): QueryRunner {
  if (!scopeOfRunner(runner)) return runner;
  const view = runnerView(runner);
  Object.assign(view, { manager: runner.connection.createEntityManager(view) });
  return view;
}

export { underlyingRunner };
