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

type RepositoryCache = Map<PropertyKey, Map<unknown, Repository<ObjectLiteral>>>;

/**
 * `getRepository`, `getTreeRepository` and `withRepository` of a routing manager:
 * repositories that hold the routing manager itself (cached per entity), so each of
 * their calls is routed when it runs, not when the repository was made.
 */
function repositoryAccess(property: PropertyKey, manager: () => TenantEntityManager, cache: RepositoryCache): unknown {
  if (property === 'getRepository' || property === 'getTreeRepository') {
    return (entity: EntityTarget<ObjectLiteral>) => {
      // Keyed by the target itself: names repeat (two classes, every EntitySchema prints alike).
      const ofKind = cache.get(property) ?? new Map<unknown, Repository<ObjectLiteral>>();
      cache.set(property, ofKind);
      let repository = ofKind.get(entity);
      if (!repository) {
        const Kind = property === 'getTreeRepository' ? TreeRepository : Repository;
        repository = new Kind(entity, manager() as unknown as EntityManager);
        ofKind.set(entity, repository);
      }
      return repository;
    };
  }
  if (property === 'withRepository') {
    return (repository: Repository<ObjectLiteral>) => {
      const Custom = repository.constructor as new (target: unknown, manager: EntityManager) => Repository<ObjectLiteral>;
      return Object.assign(new Custom(repository.target, manager() as unknown as EntityManager), { ...repository, manager: manager() });
    };
  }
  return undefined;
}

/**
 * The manager `tenancy.manager(t)` returns for one database per tenant and for
 * shards: the same TenantEntityManager API, each call routed to the tenant's
 * DataSource (opened on first use, shared, closed when idle). Asynchronous
 * methods open it as needed; repositories route through this manager;
 * `createQueryBuilder` (synchronous) needs the DataSource open: call
 * `await tenancy.open(tenant)` first, or build queries inside `transaction()`.
 */
export function routedManager(placeholder: TenantEntityManager, tenantId: TenantId, route: Route): TenantEntityManager {
  const repositories: RepositoryCache = new Map();
  const proxy: TenantEntityManager = new Proxy(placeholder, {
    get(target, property) {
      if (property === 'tenantId') return tenantId;
      if (inMemory.has(property)) return Reflect.get(target, property, target);
      const repositoryMember = repositoryAccess(property, () => proxy, repositories);
      if (repositoryMember) return repositoryMember;
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

/**
 * The default manager of the main DataSource under `defaultManager: 'context'` when
 * tenants' rows live in other DataSources: inside `tenancy.run(t)` every call goes
 * to `t`'s routed manager (its database or shard), outside to the context manager
 * (shared entities of the main DataSource; scoped entities refused). Repositories
 * taken from it (`dataSource.getRepository()`, `@InjectRepository()`) route per call.
 */
export function contextRoutedManager(contextual: TenantEntityManager, bound: () => TenantEntityManager | undefined): TenantEntityManager {
  const repositories: RepositoryCache = new Map();
  const proxy: TenantEntityManager = new Proxy(contextual, {
    get(target, property) {
      const repositoryMember = repositoryAccess(property, () => proxy, repositories);
      if (repositoryMember) return repositoryMember;
      const source = bound() ?? target;
      const member = Reflect.get(source, property, source) as unknown;
      return typeof member === 'function' ? (member as (...a: unknown[]) => unknown).bind(source) : member;
    },
  });
  return proxy;
}
