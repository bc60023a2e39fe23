import { type EntityManager, Repository, TreeRepository, type EntityTarget, type ObjectLiteral } from 'typeorm';
import { TenancyConfigError } from '../errors.js';
import type { TenantEntityManager } from '../manager/tenant-entity-manager.js';
import type { TenantId } from '../scoping/tenant-key.js';

/** How a routed manager reaches the tenant's DataSource. */
export interface Route {
  /** Runs `fn` with the tenant's manager on its (opened) DataSource. */
  use<R>(tenantId: TenantId, fn: (manager: TenantEntityManager) => Promise<R>): Promise<R>;
  /** The tenant's manager when its DataSource is open right now. */
  peek(tenantId: TenantId): TenantEntityManager | undefined;
}

// Pure in-memory methods: answered with the main DataSource's metadata (same entity classes).
const inMemory = new Set<PropertyKey>(['create', 'merge', 'hasId', 'getId', 'connection', 'dataSource']);
// Synchronous methods that need the tenant's DataSource to be open.
const needsOpen = new Set<PropertyKey>(['createQueryBuilder', 'release', 'queryRunner', 'getMongoRepository']);

/**
 * The manager `tenancy.manager(t)` returns for one database per tenant and for
 * shards: the same TenantEntityManager API, each call routed to the tenant's
 * DataSource (opened on first use, shared, closed when idle). Asynchronous
 * methods open it as needed; repositories route through this manager;
 * `createQueryBuilder` (synchronous) needs the DataSource open: call
 * `await tenancy.open(tenant)` first, or build queries inside `transaction()`.
 */
export function routedManager(placeholder: TenantEntityManager, tenantId: TenantId, route: Route): TenantEntityManager {
  const repositories = new Map<unknown, Repository<ObjectLiteral>>();
  const proxy: TenantEntityManager = new Proxy(placeholder, {
    get(target, property, receiver) {
      if (property === 'tenantId') return tenantId;
      if (inMemory.has(property)) return Reflect.get(target, property, receiver);
      if (property === 'getRepository' || property === 'getTreeRepository') {
        return (entity: EntityTarget<ObjectLiteral>) => {
          const key = `${String(property)}:${String(typeof entity === 'function' ? entity.name : entity)}`;
          let repository = repositories.get(key);
          if (!repository) {
            const Kind = property === 'getTreeRepository' ? TreeRepository : Repository;
            repository = new Kind(entity, proxy as unknown as EntityManager);
            repositories.set(key, repository);
          }
          return repository;
        };
      }
      if (property === 'withRepository') {
        return (repository: Repository<ObjectLiteral>) => {
          const Custom = repository.constructor as new (target: unknown, manager: EntityManager) => Repository<ObjectLiteral>;
          return Object.assign(new Custom(repository.target, proxy as unknown as EntityManager), { ...repository, manager: proxy });
        };
      }
      // The placeholder as receiver: its getters read private fields a proxy does not have.
      const member = Reflect.get(target, property, target) as unknown;
      if (typeof member !== 'function') return member;
      if (needsOpen.has(property)) {
        return (...args: unknown[]) => {
          const open = route.peek(tenantId);
          if (!open) {
            throw new TenancyConfigError(
              `${String(property)}() needs the tenant's database to be open: await tenancy.open(${JSON.stringify(tenantId)}) first, or call it inside manager.transaction(...).`,
              { operation: String(property), tenant: tenantId },
            );
          }
          return (open[property as keyof TenantEntityManager] as (...a: unknown[]) => unknown).apply(open, args);
        };
      }
      return (...args: unknown[]) =>
        route.use(tenantId, (manager) => (manager[property as keyof TenantEntityManager] as (...a: unknown[]) => Promise<unknown>).apply(manager, args));
    },
  });
  return proxy;
}
