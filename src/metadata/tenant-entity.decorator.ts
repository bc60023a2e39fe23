import { markTenantEntity } from './tenant-marks.js';

/**
 * Marks the tenant entity: the table whose primary key is the tenant id.
 * Exactly one per DataSource. Its primary key type (int, bigint, uuid, string)
 * becomes the type of every injected `tenant_id` column.
 *
 * @example
 * \@TenantEntity()
 * \@Entity('tenants')
 * class Tenant { \@PrimaryGeneratedColumn() id!: number }
 */
export function TenantEntity(): ClassDecorator {
  return (target) => markTenantEntity(target);
}
