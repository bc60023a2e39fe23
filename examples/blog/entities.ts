import 'reflect-metadata';
import { Column, Entity, ManyToOne, OneToMany, PrimaryGeneratedColumn } from 'typeorm';
import { TenantEntity, TenantScoped } from '../../src/index.js';

/** The tenant table: one row per customer. */
@TenantEntity()
@Entity('tenants')
export class Tenant {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
}

/** Not decorated: shared by every tenant. */
@Entity('users')
export class User {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
  @OneToMany(() => Post, (p) => p.author) posts!: Post[];
}

/** Each post belongs to one tenant: tenant_id, its foreign key and index are injected. */
@TenantScoped()
@Entity('posts')
export class Post {
  @PrimaryGeneratedColumn() id!: number;
  @Column() title!: string;
  @ManyToOne(() => User, (u) => u.posts) author!: User;
  tenantId!: number; // optional declaration; the column exists either way
}
