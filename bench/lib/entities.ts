import 'reflect-metadata';
import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';

/** The library's class decorators, passed in by code that loads the library (this file never imports it). */
export interface TenantDecorators {
  TenantEntity(): ClassDecorator;
  TenantScoped(options: { index: false }): ClassDecorator;
}

const none: ClassDecorator = () => undefined;

/**
 * The benchmark schema, defined once for both kinds of app: with the library's decorators (the
 * tenant app, the in-process variants) or without (the plain app of the whole-process mode, which
 * must never load the library). The TypeORM mapping is the same either way: the tenant column is
 * declared (the library keeps a declared column), and the single-column tenant index the library
 * would add is replaced by (tenant_id, id), the index a multi-tenant table usually has.
 */
export function defineEntities(tenancy?: TenantDecorators) {
  const tenantEntity = tenancy ? tenancy.TenantEntity() : none;
  const tenantScoped = tenancy ? tenancy.TenantScoped({ index: false }) : none;

  @tenantEntity
  @Entity('tenants')
  class Tenant {
    @PrimaryGeneratedColumn() id!: number;
    @Column({ type: 'varchar', length: 100 }) name!: string;
  }

  @tenantScoped
  @Index('authors_tenant_id_id', ['tenantId', 'id'])
  @Entity('authors')
  class Author {
    @PrimaryGeneratedColumn() id!: number;
    @Column({ type: 'varchar', length: 100 }) name!: string;
    @Column({ name: 'tenant_id', type: 'integer' }) tenantId!: number;
  }

  @tenantScoped
  @Index('posts_tenant_id_id', ['tenantId', 'id'])
  @Entity('posts')
  class Post {
    @PrimaryGeneratedColumn() id!: number;
    @Column({ type: 'varchar', length: 200 }) title!: string;
    @Column({ type: 'integer', default: 0 }) views!: number;
    @Column({ name: 'author_id', type: 'integer' }) authorId!: number;
    @ManyToOne(() => Author, { nullable: false })
    @JoinColumn({ name: 'author_id' })
    author!: Author;
    @Column({ name: 'tenant_id', type: 'integer' }) tenantId!: number;
  }

  return { Tenant, Author, Post, entities: [Tenant, Author, Post] };
}

export type BenchEntities = ReturnType<typeof defineEntities>;
