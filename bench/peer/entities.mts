import 'reflect-metadata';
import { Entity, Filter, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

// The same tables as the TypeORM benchmark (posts, authors), mapped twice: plain classes for the
// hand-written baseline, and classes with MikroORM's tenant filter — the documented way to do
// multi-tenancy in MikroORM: a default @Filter with a tenant parameter, set per request fork.

const tenantFilter = { name: 'tenant', cond: (args: { tenantId?: number }) => ({ tenantId: args.tenantId }), default: true };

@Entity({ tableName: 'authors' })
export class PlainAuthor {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'string', length: 100 }) name!: string;
  @Property({ type: 'integer', fieldName: 'tenant_id' }) tenantId!: number;
}

@Entity({ tableName: 'posts' })
export class PlainPost {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'string', length: 200 }) title!: string;
  @Property({ type: 'integer' }) views!: number;
  @ManyToOne(() => PlainAuthor, { fieldName: 'author_id' }) author!: PlainAuthor;
  @Property({ type: 'integer', fieldName: 'tenant_id' }) tenantId!: number;
}

@Filter(tenantFilter)
@Entity({ tableName: 'authors' })
export class TenantAuthor {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'string', length: 100 }) name!: string;
  @Property({ type: 'integer', fieldName: 'tenant_id' }) tenantId!: number;
}

@Filter(tenantFilter)
@Entity({ tableName: 'posts' })
export class TenantPost {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'string', length: 200 }) title!: string;
  @Property({ type: 'integer' }) views!: number;
  @ManyToOne(() => TenantAuthor, { fieldName: 'author_id' }) author!: TenantAuthor;
  @Property({ type: 'integer', fieldName: 'tenant_id' }) tenantId!: number;
}
