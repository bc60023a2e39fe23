import 'reflect-metadata';
import {
  type CallHandler,
  type CanActivate,
  Controller,
  type DynamicModule,
  Get,
  Injectable,
  type INestApplication,
  Module,
  type NestInterceptor,
  Param,
  Post as HttpPost,
  Req,
  UnauthorizedException,
  UseGuards,
  UseInterceptors,
  ForbiddenException,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { InjectRepository, TypeOrmModule } from '@nestjs/typeorm';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { from, type Observable, switchMap } from 'rxjs';
import { DataSource, type DataSourceOptions, type Repository } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MissingTenantError, Tenancy, TenancyConfigError, TenantEntityManager } from '../../src/index.js';
import {
  byHeader,
  CurrentTenant,
  currentTenantManager,
  InjectTenantManager,
  registerTenancy,
  TenancyModule,
  type TenancyModuleOptions,
  type TenancyOptionsFactory,
  tenancyDataSourceFactory,
  tenantManager,
} from '../../src/integrations/nestjs/index.js';
import { blogEntities, Post, Tenant } from '../fixtures/blog.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/databases.js';
import { http } from './http.js';

@Injectable()
class PostsService {
  constructor(
    @InjectRepository(Post) readonly posts: Repository<Post>,
    @InjectTenantManager() readonly em: TenantEntityManager,
    readonly tenancy: Tenancy,
  ) {}
}

/** A guard that needs the tenant: guards run inside the middleware's context. */
@Injectable()
class TenantGuard implements CanActivate {
  constructor(@InjectTenantManager() private readonly em: TenantEntityManager) {}
  async canActivate(): Promise<boolean> {
    await sleep(1);
    if (this.em.tenantId === -1) throw new ForbiddenException();
    return true;
  }
}

/** An interceptor that reads the tenant again after the handler's observable emits. */
@Injectable()
class TenantInterceptor implements NestInterceptor {
  constructor(private readonly tenancy: Tenancy) {}
  intercept(_context: unknown, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(switchMap((body: object) => from(sleep(1).then(() => ({ ...body, after: this.tenancy.current().tenantId })))));
  }
}

@Controller()
@UseGuards(TenantGuard)
@UseInterceptors(TenantInterceptor)
class PostsController {
  constructor(private readonly service: PostsService) {}

  @Get('posts')
  async list(@Req() req: object): Promise<object> {
    const viaRepository = (await this.service.posts.find({ order: { id: 'ASC' } })).map((p) => p.title);
    await sleep(2);
    const viaManager = (await this.service.em.find(Post, { order: { id: 'ASC' } })).map((p) => p.title);
    return {
      tenant: this.service.em.tenantId,
      viaRepository,
      viaManager,
      same: tenantManager(req) === this.service.tenancy.current(),
    };
  }

  @HttpPost('posts/:title')
  async create(@Param('title') title: string): Promise<object> {
    const post = await this.service.em.save(Post, { title });
    return { tenantId: post.tenantId };
  }

  @Get('whoami')
  whoami(@CurrentTenant() tenant: number): object {
    return { tenant };
  }

  /** Handlers whose code goes wrong in tenancy's ways: TenancyExceptionFilter answers them. */
  @HttpPost('steal/:other')
  async steal(@Param('other') other: string): Promise<void> {
    await this.service.posts.save({ title: 'stolen', tenantId: Number(other) }); // TenantMismatchError
  }

  @Get('raw')
  raw(): Promise<unknown> {
    return this.service.posts.query('SELECT title FROM posts'); // UnsafeQueryError: raw SQL in a tenant context
  }
}

/** Excluded from TenancyModule: no tenant is needed, and none is bound. */
@Controller('health')
class HealthController {
  constructor(private readonly tenancy: Tenancy) {}
  @Get()
  health(): object {
    return { ok: true, tenant: (() => { try { return this.tenancy.current().tenantId; } catch { return 'none'; } })() };
  }

  /** A route without a tenant that reads tenant rows anyway: MissingTenantError. */
  @Get('posts')
  posts(): Promise<Post[]> {
    return this.tenancy.dataSource.getRepository(Post).find();
  }

  @Get('tenant')
  tenant(@CurrentTenant() tenant: number): number {
    return tenant;
  }
}

async function start(tenancyModule: DynamicModule, typeorm: DynamicModule[]): Promise<{ app: INestApplication; port: number }> {
  @Module({ imports: [...typeorm, tenancyModule], controllers: [PostsController, HealthController], providers: [PostsService, TenantGuard, TenantInterceptor] })
  class AppModule {}
  const app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  return { app, port: (app.getHttpServer().address() as AddressInfo).port };
}

function typeOrm(options: DataSourceOptions): DynamicModule[] {
  return [
    TypeOrmModule.forRootAsync({ useFactory: () => ({ ...options, entities: blogEntities, synchronize: true }), dataSourceFactory: tenancyDataSourceFactory() }),
    TypeOrmModule.forFeature([Post]),
  ];
}

describe.each(databaseKinds())('typeorm-tenancy/nestjs with @nestjs/typeorm on %s', (kind) => {
  let db: TestDatabase;
  let app: INestApplication;
  let port: number;
  let acme: number;
  let globex: number;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    ({ app, port } = await start(TenancyModule.forRoot({ resolve: byHeader('x-tenant-id'), exclude: ['health', 'health/*path'] }), typeOrm(db.options)));
    const ds = app.get(DataSource);
    [acme, globex] = (await ds.manager.save(Tenant, [{ name: 'acme' }, { name: 'globex' }])).map((t) => t.id) as [number, number];
    const tenancy = app.get(Tenancy);
    await tenancy.manager(acme).save(Post, [{ title: 'acme 1' }, { title: 'acme 2' }]);
    await tenancy.manager(globex).save(Post, { title: 'globex 1' });
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('attaches the Tenancy before initialize() through dataSourceFactory and provides it by class', () => {
    const ds = app.get(DataSource);
    expect(ds.isInitialized).toBe(true);
    expect(app.get(Tenancy).dataSource).toBe(ds);
    expect(ds.getMetadata(Post).findColumnWithPropertyName('tenantId')?.databaseName).toBe('tenant_id');
    expect(ds.manager).toBeInstanceOf(TenantEntityManager); // defaultManager 'context'
  });

  it('@InjectRepository and @InjectTenantManager serve the request tenant in guards, handlers and interceptors', async () => {
    const response = await http(port, { path: '/posts', headers: { 'x-tenant-id': String(acme) } });
    expect(response.status).toBe(200);
    expect(response.json()).toEqual({ tenant: acme, viaRepository: ['acme 1', 'acme 2'], viaManager: ['acme 1', 'acme 2'], same: true, after: acme });
    const created = await http(port, { method: 'POST', path: '/posts/globex%202', headers: { 'x-tenant-id': String(globex) } });
    expect(created.json()).toEqual({ tenantId: globex, after: globex });
    expect((await app.get(Tenancy).manager(globex).find(Post)).map((p) => p.title).sort()).toEqual(['globex 1', 'globex 2']);
    await app.get(Tenancy).manager(globex).delete(Post, { title: 'globex 2' });
  });

  it('interleaved concurrent requests never mix tenants', async () => {
    const tenants = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? globex : acme));
    const responses = await Promise.all(tenants.map((t) => http(port, { path: '/posts', headers: { 'x-tenant-id': String(t) } })));
    responses.forEach((response, i) => {
      const t = tenants[i];
      const titles = t === acme ? ['acme 1', 'acme 2'] : ['globex 1'];
      expect(response.json()).toEqual({ tenant: t, viaRepository: titles, viaManager: titles, same: true, after: t });
    });
  });

  it('400 without a tenant, 404 for an unknown one (as Nest answers any 404), excluded routes need none', async () => {
    const missing = await http(port, { path: '/posts' });
    expect(missing.status).toBe(400);
    expect(missing.json()).toEqual({ message: 'Bad Request', statusCode: 400 });
    const unknown = await http(port, { path: '/posts', headers: { 'x-tenant-id': 'abc' } });
    expect(unknown.status).toBe(404);
    expect(unknown.json()).toEqual({ message: 'Not Found', statusCode: 404 });
    expect((await http(port, { path: '/health', headers: { 'x-tenant-id': String(acme) } })).json()).toEqual({ ok: true, tenant: 'none' });
  });

  it('the README setup (byHeader without exists) refuses a well-formed id of no tenant: 404 on reads and writes, nothing written', async () => {
    const before = await app.get(DataSource).manager.count(Post, { safe: false });
    for (const id of ['999', String(globex + 100), '-1']) {
      const read = await http(port, { path: '/posts', headers: { 'x-tenant-id': id } });
      expect([read.status, read.text]).toEqual([404, '{"message":"Not Found","statusCode":404}']);
      const write = await http(port, { method: 'POST', path: '/posts/intruder', headers: { 'x-tenant-id': id } });
      expect([write.status, write.text]).toEqual([404, '{"message":"Not Found","statusCode":404}']);
    }
    expect(await app.get(DataSource).manager.count(Post, { safe: false })).toBe(before);
  });

  it('@CurrentTenant() is the request tenant; TenancyErrors are answered with their status, naming nothing', async () => {
    const headers = { 'x-tenant-id': String(acme) };
    expect((await http(port, { path: '/whoami', headers })).json()).toEqual({ tenant: acme, after: acme });
    const steal = await http(port, { method: 'POST', path: `/steal/${globex}`, headers });
    expect([steal.status, steal.text]).toEqual([403, '{"message":"Forbidden","statusCode":403}']);
    expect((await app.get(Tenancy).manager(globex).find(Post)).map((p) => p.title)).toEqual(['globex 1']);
    const raw = await http(port, { path: '/raw', headers });
    expect([raw.status, raw.text]).toEqual([500, '{"message":"Internal Server Error","statusCode":500}']);
    // Excluded from the middleware: no tenant bound, so tenant reads and @CurrentTenant() are 400.
    for (const path of ['/health/posts', '/health/tenant']) {
      const response = await http(port, { path, headers });
      expect([response.status, response.text]).toEqual([400, '{"message":"Bad Request","statusCode":400}']);
    }
  });

  it('the injected manager needs a request outside one, and is refused when written to', async () => {
    const em = app.get(PostsService).em;
    expect(em).toBeInstanceOf(TenantEntityManager);
    expect(() => em.tenantId).toThrow(MissingTenantError);
    await expect(Promise.resolve().then(() => em.find(Post))).rejects.toBeInstanceOf(MissingTenantError);
    expect(await app.get(Tenancy).run(globex, () => em.count(Post))).toBe(1);
    expect(() => ((em as unknown as Record<string, unknown>).tenantId = 3)).toThrow(TypeError);
    await expect(app.get(PostsService).posts.find()).rejects.toBeInstanceOf(MissingTenantError);
  });
});

describe('TenancyModule options', () => {
  it('forRootAsync injects providers into its factory; onMissing and onUnknown pick the errors', async () => {
    const { app, port } = await start(
      TenancyModule.forRootAsync({
        inject: [DataSource],
        useFactory: (ds: DataSource): TenancyModuleOptions => ({
          resolve: byHeader('x-tenant', async (name) => (await ds.manager.findOneBy(Tenant, { name }))?.id),
          onMissing: () => new UnauthorizedException(),
          onUnknown: () => new UnauthorizedException(),
        }),
      }),
      typeOrm({ type: 'better-sqlite3', database: ':memory:' }),
    );
    try {
      const acme = await app.get(DataSource).manager.save(Tenant, { name: 'acme' });
      await app.get(Tenancy).manager(acme).save(Post, { title: 'hello' });
      const ok = await http(port, { path: '/posts', headers: { 'x-tenant': 'acme' } });
      expect(ok.json()).toMatchObject({ tenant: acme.id, viaRepository: ['hello'] });
      expect((await http(port, { path: '/posts' })).status).toBe(401);
      expect((await http(port, { path: '/posts', headers: { 'x-tenant': 'initech' } })).status).toBe(401);
    } finally {
      await app.close();
    }
  });

  it('forRootAsync takes useClass or useExisting (ConfigurableModuleBuilder), and exactly one way to build the options', async () => {
    @Injectable()
    class TenancyConfig implements TenancyOptionsFactory {
      constructor(private readonly dataSource: DataSource) {}
      createTenancyOptions(): TenancyModuleOptions {
        return { resolve: byHeader('x-tenant', async (name) => (await this.dataSource.manager.findOneBy(Tenant, { name }))?.id), exists: false };
      }
    }
    @Module({ providers: [TenancyConfig], exports: [TenancyConfig] })
    class ConfigModule {}
    for (const tenancyModule of [
      TenancyModule.forRootAsync({ useClass: TenancyConfig }),
      TenancyModule.forRootAsync({ imports: [ConfigModule], useExisting: TenancyConfig }),
    ]) {
      const { app, port } = await start(tenancyModule, typeOrm({ type: 'better-sqlite3', database: ':memory:' }));
      try {
        const acme = await app.get(DataSource).manager.save(Tenant, { name: 'acme' });
        await app.get(Tenancy).manager(acme).save(Post, { title: 'configured' });
        expect((await http(port, { path: '/posts', headers: { 'x-tenant': 'acme' } })).json()).toMatchObject({ tenant: acme.id, viaRepository: ['configured'] });
        expect((await http(port, { path: '/posts', headers: { 'x-tenant': 'initech' } })).status).toBe(404);
      } finally {
        await app.close();
      }
    }
    expect(() => TenancyModule.forRootAsync({})).toThrow(/exactly one of useFactory, useClass and useExisting; it was given none/);
    expect(() => TenancyModule.forRootAsync({ useClass: TenancyConfig, useExisting: TenancyConfig })).toThrow(TenancyConfigError);
  });

  it('exceptionFilter: false leaves TenancyErrors to Nest (500) and your own filters', async () => {
    const { app, port } = await start(
      TenancyModule.forRoot({ resolve: byHeader('x-tenant-id'), exceptionFilter: false }),
      typeOrm({ type: 'better-sqlite3', database: ':memory:' }),
    );
    try {
      const [acme, globex] = await app.get(DataSource).manager.save(Tenant, [{ name: 'acme' }, { name: 'globex' }]);
      const steal = await http(port, { method: 'POST', path: `/steal/${globex!.id}`, headers: { 'x-tenant-id': String(acme!.id) } });
      expect([steal.status, steal.json()]).toEqual([500, { statusCode: 500, message: 'Internal server error' }]);
    } finally {
      await app.close();
    }
  });

  it('forRoot({ tenancy }) works without @nestjs/typeorm; a DataSource without a Tenancy is a TenancyConfigError', async () => {
    const ds = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: blogEntities, synchronize: true });
    const tenancy = new Tenancy(ds);
    await ds.initialize();
    const acme = await ds.manager.save(Tenant, { name: 'acme' });
    await tenancy.manager(acme).save(Post, { title: 'explicit' });
    const repository = { provide: 'PostRepository', useValue: ds.getRepository(Post) };
    @Module({ providers: [repository, { provide: DataSource, useValue: ds }], exports: [repository.provide, DataSource] })
    class Db {}
    @Injectable()
    class Titles {
      constructor(@InjectTenantManager() private readonly em: TenantEntityManager) {}
      titles() {
        return this.em.find(Post).then((posts) => posts.map((p) => p.title));
      }
    }
    @Controller()
    class TitlesController {
      constructor(private readonly service: Titles) {}
      @Get('titles') titles() {
        return this.service.titles();
      }
    }
    @Module({ imports: [Db, TenancyModule.forRoot({ tenancy, resolve: byHeader('x-tenant-id') })], controllers: [TitlesController], providers: [Titles] })
    class ExplicitModule {}
    const app = await NestFactory.create(ExplicitModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    try {
      const port = (app.getHttpServer().address() as AddressInfo).port;
      expect((await http(port, { path: '/titles', headers: { 'x-tenant-id': String(acme.id) } })).json()).toEqual(['explicit']);
    } finally {
      await app.close();
    }

    // The DataSource is there, but nobody attached a Tenancy to it: bootstrap fails and says how to fix it.
    const plain = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: blogEntities });
    @Module({ providers: [{ provide: DataSource, useValue: plain }], exports: [DataSource] })
    class PlainDb {}
    @Module({ imports: [PlainDb, TenancyModule.forRoot({ resolve: byHeader('x-tenant-id') })] })
    class Unattached {}
    await expect(NestFactory.create(Unattached, { logger: false, abortOnError: false })).rejects.toThrow(TenancyConfigError);
    @Module({ imports: [TenancyModule.forRoot({ resolve: byHeader('x-tenant-id') })] })
    class NoDataSource {}
    await expect(NestFactory.create(NoDataSource, { logger: false, abortOnError: false })).rejects.toThrow(/dataSourceFactory: tenancyDataSourceFactory\(\)/);
    await ds.destroy();
  });

  it('currentTenantManager forwards to tenancy.current() and answers framework probes without a tenant', async () => {
    const ds = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: blogEntities, synchronize: true });
    const tenancy = registerTenancy(new Tenancy(ds));
    await ds.initialize();
    const em = currentTenantManager(tenancy);
    expect(await Promise.resolve(em)).toBe(em); // not a thenable
    expect((em as unknown as Record<string, unknown>).onModuleInit).toBeUndefined();
    expect(String(em)).toContain('TenantEntityManager');
    expect(['find' in em, 'onModuleInit' in em, 'then' in em]).toEqual([true, false, false]);
    const [a] = await ds.manager.save(Tenant, [{ name: 'a' }]);
    await tenancy.run(a!.id, async () => {
      await em.save(Post, { title: 'in a' });
      expect(em.tenantId).toBe(a!.id);
      const { find } = em; // methods are bound to the manager of the moment
      expect(await find.call(undefined, Post)).toHaveLength(1);
    });
    await ds.destroy();
  });
});
