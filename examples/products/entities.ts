import 'reflect-metadata';
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { TenantEntity, TenantScoped } from '../../src/index.js';

@TenantEntity()
@Entity('tenants')
export class Tenant {
  @PrimaryGeneratedColumn() id!: number;
  /** What the `tenant` request header names: `edgy`. The shared default tenant is `shared`. */
  @Column({ type: 'varchar', length: 100, unique: true }) name!: string;
}

@TenantScoped()
@Entity('products')
export class Product {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'varchar', length: 255 }) name!: string;
  tenantId!: number;
}
