import { markScopedEntity, type TenantScopedOptions } from './tenant-marks.js';

/**
 * Marks an entity whose rows belong to one tenant. `new Tenancy(dataSource)` then
 * injects the tenant column (NOT NULL, not updatable, typed like the tenant key),
 * a foreign key to the tenant table and an index, so `synchronize` and
 * `migration:generate` both see them. Works in either order with `@Entity()` and
 * when the class already declares the property or its own `@Column`.
 *
 * @example
 * \@TenantScoped()            // tenant_id integer NOT NULL REFERENCES tenants(id) ON DELETE CASCADE
 * \@Entity('posts')
 * class Post { \@PrimaryGeneratedColumn() id!: number; tenantId!: number }
 */
export function TenantScoped(options: TenantScopedOptions = {}): ClassDecorator {
  return (target) => markScopedEntity(target, options);
}
