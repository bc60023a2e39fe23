import 'reflect-metadata';
import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { TenantEntity, TenantScoped } from '../../src/index.js';

// The benchmark schema. The tenant column is declared (the library keeps a declared column), so a
// plain DataSource on the same classes — the hand-written baseline — maps exactly the same table.
// The single-column tenant index the library would add is replaced by (tenant_id, id): the index a
// multi-tenant table usually has, serving "this tenant's rows" and "this tenant's rows by id".

@TenantEntity()
@Entity('tenants')
export class Tenant {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'varchar', length: 100 }) name!: string;
}

@TenantScoped({ index: false })
@Index('authors_tenant_id_id', ['tenantId', 'id'])
@Entity('authors')
export class Author {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'varchar', length: 100 }) name!: string;
  @Column({ name: 'tenant_id', type: 'integer' }) tenantId!: number;
}

@TenantScoped({ index: false })
@Index('posts_tenant_id_id', ['tenantId', 'id'])
@Entity('posts')
export class Post {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'varchar', length: 200 }) title!: string;
  @Column({ type: 'integer', default: 0 }) views!: number;
  @Column({ name: 'author_id', type: 'integer' }) authorId!: number;
  @ManyToOne(() => Author, { nullable: false })
  @JoinColumn({ name: 'author_id' })
  author!: Author;
  @Column({ name: 'tenant_id', type: 'integer' }) tenantId!: number;
}

export const entities = [Tenant, Author, Post];
