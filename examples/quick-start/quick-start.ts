import 'reflect-metadata';
import { Column, DataSource, Entity, ManyToOne, OneToMany, PrimaryGeneratedColumn } from 'typeorm';
import { Tenancy, TenantEntity, TenantScoped } from '../../src/index.js'; // in your app: 'typeorm-tenancy'

@TenantEntity()
@Entity('tenants')
class Tenant {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
}

@Entity('users') // shared by all tenants
class User {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
  @OneToMany(() => Post, (p) => p.author) posts!: Post[];
}

@TenantScoped() // gets tenant_id NOT NULL + FK to tenants(id) + index
@Entity('posts')
class Post {
  @PrimaryGeneratedColumn() id!: number;
  @Column() title!: string;
  @ManyToOne(() => User, (u) => u.posts) author!: User;
  tenantId!: number;
}

export async function quickStart() {
  const dataSource = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [Tenant, User, Post], synchronize: true });
  const tenancy = new Tenancy(dataSource); // before initialize()
  await dataSource.initialize();

  const acme = await dataSource.manager.save(Tenant, { name: 'acme' });
  const globex = await dataSource.manager.save(Tenant, { name: 'globex' });
  const alice = await dataSource.manager.save(User, { name: 'alice' });
  await tenancy.manager(acme).save(Post, { title: 'Hello from acme', author: alice }); // tenant_id stamped
  await tenancy.manager(globex).save(Post, { title: 'Hello from globex', author: alice });

  const em = tenancy.manager(acme.id);
  const posts = await em.find(Post); // WHERE "Post"."tenant_id" = (?|0), the tenant id bound
  const users = await em.createQueryBuilder(User, 'u').leftJoinAndSelect('u.posts', 'p').getMany(); // ON ... AND "p"."tenant_id" = (?|0)
  const everyone = await em.find(Post, { safe: false }); // the explicit, greppable bypass
  await dataSource.destroy();
  return { posts: posts.map((p) => p.title), alicePosts: users[0]!.posts.map((p) => p.title), all: everyone.length };
}
