import { TenancyConfigError } from '../errors.js';
import { markTenantUnique } from './tenant-marks.js';

/**
 * Unique per tenant: generates `UNIQUE (tenant_id, ...columns)`, so two tenants
 * can use the same value (a slug, an email) and one tenant cannot use it twice —
 * and a collision never tells one tenant about another's data. Use it instead
 * of `@Unique()` / `@Column({ unique: true })` on scoped entities.
 *
 * @example
 * \@TenantUnique(['slug'])     // UNIQUE ("tenant_id", "slug")
 * \@TenantScoped()
 * \@Entity('articles')
 * class Article { ... \@Column() slug!: string }
 */
export function TenantUnique(columns: string[], options: { name?: string } = {}): ClassDecorator {
  if (!Array.isArray(columns) || columns.length === 0 || columns.some((c) => typeof c !== 'string' || c === '')) {
    throw new TenancyConfigError('@TenantUnique() takes a non-empty list of property names, e.g. @TenantUnique([\'slug\']).', {
      operation: '@TenantUnique',
    });
  }
  return (target) => markTenantUnique(target, [...columns], options.name);
}
