import type { DataSource } from 'typeorm';
import type { ScopeContext } from '../scoping/scope-context.js';
import type { ScopeRegistry } from '../scoping/scope-registry.js';
import { TenancyConfigError } from '../errors.js';
import { TenantEntityManager } from './tenant-entity-manager.js';

/**
 * The DataSource's default manager under `defaultManager: 'context'`: scoped to
 * the tenant bound by `tenancy.run()` in the calling async context; outside one,
 * shared entities work and tenant-scoped entities are refused with
 * `MissingTenantError`. `dataSource.getRepository()`, `@InjectRepository()` and
 * `BaseEntity` go through it, so existing code becomes tenant-safe unchanged.
 */
export class ContextEntityManager extends TenantEntityManager {
  readonly #registry: () => ScopeRegistry | undefined;

  /** @internal */
  constructor(dataSource: DataSource, registry: () => ScopeRegistry | undefined) {
    super(dataSource, undefined, undefined as unknown as ScopeContext);
    this.#registry = registry;
  }

  override get scope(): ScopeContext {
    const registry = this.#registry();
    if (!registry) {
      throw new TenancyConfigError('dataSource.manager was used before dataSource.initialize() finished. Await initialize() first.', {
        operation: 'dataSource.manager',
      });
    }
    return registry.contextScope() ?? registry.unknownScope;
  }

  // Outside a tenant context raw SQL is application code, as with plain TypeORM;
  // inside tenancy.run() it is refused unless { safe: false }, like any tenant manager.
  protected override refusesRawSql(): boolean {
    return this.#registry()?.contextScope() !== undefined;
  }
}
