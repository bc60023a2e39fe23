import 'reflect-metadata';
import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { TenantEntity, TenantScoped } from '../../src/index.js';

/** The tenant registry: one row per host name the service answers to (as the flask seed's `add-tenant`). */
@TenantEntity()
@Entity('tenants')
export class Tenant {
  @PrimaryGeneratedColumn() id!: number;
  /** The Host header the tenant is reached under, with its port: `127.0.0.1:5000`. */
  @Column({ type: 'varchar', length: 255, unique: true }) host!: string;
  @Column({ type: 'varchar', length: 100 }) name!: string;
}

/** One key of one tenant's store. `tenant_id` is added by @TenantScoped(). */
@TenantScoped()
@Entity('kv_entries')
@Index(['tenantId', 'key'], { unique: true })
export class Entry {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'varchar', length: 255 }) key!: string;
  @Column({ type: 'integer' }) value!: number;
  tenantId!: number;
}
