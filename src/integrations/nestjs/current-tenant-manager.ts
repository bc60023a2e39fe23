import { inspect } from 'node:util';
import { TenantEntityManager } from '../../manager/tenant-entity-manager.js';
import type { Tenancy } from '../../tenancy.js';

// Probed by Nest on every provider (lifecycle hooks; `then` by `await`): a manager has none of
// them, so they are answered without asking for a tenant, and bootstrap works outside a request.
const notOnManager = new Set<string | symbol>([
  'then',
  'onModuleInit',
  'onApplicationBootstrap',
  'onModuleDestroy',
  'beforeApplicationShutdown',
  'onApplicationShutdown',
]);

/**
 * A `TenantEntityManager` handle that forwards every property read and method call
 * to `tenancy.current()` at the time of the call (methods are bound to that
 * manager). What `@InjectTenantManager()` injects. `instanceof TenantEntityManager`
 * holds; writing properties on it is refused.
 */
export function currentTenantManager(tenancy: Tenancy): TenantEntityManager {
  const description = '[TenantEntityManager of the current tenancy.run() context]';
  const target = Object.create(TenantEntityManager.prototype) as TenantEntityManager;
  return new Proxy(target, {
    get(_target, property) {
      if (notOnManager.has(property)) return undefined;
      if (property === inspect.custom || property === Symbol.toPrimitive) return () => description;
      if (property === 'constructor') return TenantEntityManager;
      const manager = tenancy.current();
      const value: unknown = Reflect.get(manager, property, manager);
      return typeof value === 'function' ? value.bind(manager) : value;
    },
    has(_target, property) {
      if (notOnManager.has(property)) return false;
      try {
        return Reflect.has(tenancy.current(), property);
      } catch {
        return Reflect.has(TenantEntityManager.prototype, property); // no tenant: answer for the class
      }
    },
    set() {
      return false;
    },
    defineProperty() {
      return false;
    },
    deleteProperty() {
      return false;
    },
  });
}
