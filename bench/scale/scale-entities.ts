import 'reflect-metadata';
import { Column, Entity, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { TenantEntity, TenantScoped } from '../../src/index.js';

/**
 * The scale run's schema: a shared tenant table and two scoped tables that live in every tenant
 * schema. `withSummary` adds a column to posts: the change `migrateAll()` then brings to every
 * schema. Each call defines new classes, so two DataSources (before and after) never share one.
 */
export function defineScaleEntities(withSummary = false) {
  @TenantEntity()
  @Entity('tenants')
  class Tenant {
    @PrimaryGeneratedColumn() id!: number;
    @Column({ type: 'varchar', length: 100 }) name!: string;
  }

  @TenantScoped()
  @Entity('authors')
  class Author {
    @PrimaryGeneratedColumn() id!: number;
    @Column({ type: 'varchar', length: 100 }) name!: string;
  }

  @TenantScoped()
  @Entity('posts')
  class Post {
    @PrimaryGeneratedColumn() id!: number;
    @Column({ type: 'varchar', length: 200 }) title!: string;
    @Column({ type: 'integer', default: 0 }) views!: number;
    @Column({ name: 'author_id', type: 'integer' }) authorId!: number;
    @ManyToOne(() => Author, { nullable: false })
    @JoinColumn({ name: 'author_id' })
    author!: Author;
    summary?: string | null;
  }
  if (withSummary) Column({ type: 'text', nullable: true })(Post.prototype, 'summary');

  return { Tenant, Author, Post, entities: [Tenant, Author, Post] };
}
