import 'reflect-metadata';
import { Controller, Injectable, Module, UseFilters, UseInterceptors } from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { ClientProxyFactory, type ClientProxy, EventPattern, MessagePattern, type MicroserviceOptions, Payload, Transport } from '@nestjs/microservices';
import { WsAdapter } from '@nestjs/platform-ws';
import { MessageBody, type OnGatewayConnection, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { InjectRepository, TypeOrmModule } from '@nestjs/typeorm';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { concatMap, firstValueFrom, from, type Observable, toArray } from 'rxjs';
import { DataSource, type Repository } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { Tenancy, TenantEntityManager } from '../../src/index.js';
import {
  byPayload,
  CurrentTenant,
  InjectTenantManager,
  TenancyExceptionFilter,
  TenancyInterceptor,
  TenancyModule,
  type TenancyModuleOptions,
  type TenancyOptionsFactory,
  tenancyDataSourceFactory,
} from '../../src/integrations/nestjs/index.js';
import { blogEntities, Post, Tenant } from '../fixtures/blog.js';

// NestJS beyond HTTP: a microservice over the TCP transport on loopback and a WebSocket gateway
// (@nestjs/platform-ws), each bound by TenancyInterceptor. On SQLite: the interceptor only binds the
// context; what the context scopes is covered by the conformance suite on every database.

function typeOrm() {
  return [
    TypeOrmModule.forRootAsync({
      useFactory: () => ({ type: 'better-sqlite3' as const, database: ':memory:', entities: blogEntities, synchronize: true }),
      dataSourceFactory: tenancyDataSourceFactory(),
    }),
    TypeOrmModule.forFeature([Post]),
  ];
}

async function seed(dataSource: DataSource, tenancy: Tenancy): Promise<[Tenant, Tenant]> {
  const acme = await dataSource.manager.save(Tenant, { name: 'acme' });
  const globex = await dataSource.manager.save(Tenant, { name: 'globex' });
  await tenancy.manager(acme).save(Post, [{ title: 'acme 1' }, { title: 'acme 2' }]);
  await tenancy.manager(globex).save(Post, { title: 'globex 1' });
  return [acme, globex];
}

describe('TenancyInterceptor (global) on a Nest microservice (TCP transport)', () => {
  const audited: Array<{ tenant: unknown; title: string }> = [];

  @Controller() // TenancyInterceptor applied globally below
  class PostsConsumer {
    constructor(
      @InjectRepository(Post) private readonly posts: Repository<Post>,
      @InjectTenantManager() private readonly em: TenantEntityManager,
      private readonly tenancy: Tenancy,
    ) {}

    @MessagePattern('posts.list')
    async list(@Payload() _message: unknown, @CurrentTenant() tenant: number): Promise<object> {
      await sleep(2);
      const titles = (await this.posts.find({ order: { id: 'ASC' } })).map((p) => p.title);
      return { tenant, titles, current: this.tenancy.current().tenantId };
    }

    @MessagePattern('posts.create')
    async create(@Payload() message: { title: string }): Promise<object> {
      const post = await this.em.save(Post, { title: message.title });
      return { tenantId: post.tenantId };
    }

    @MessagePattern('posts.steal')
    async steal(@Payload() message: { other: number }): Promise<void> {
      await this.posts.save({ title: 'stolen', tenantId: message.other }); // TenantMismatchError
    }

    /** A stream: every value is produced in the tenant's context, after awaits. */
    @MessagePattern('posts.stream')
    stream(): Observable<string> {
      return from([1, 2, 3]).pipe(concatMap(async (i) => (await sleep(1), `${String(this.tenancy.current().tenantId)}:${i}:${await this.em.count(Post)}`)));
    }

    /** An event (no reply): bound like a request. */
    @EventPattern('posts.audit')
    async audit(@Payload() message: { title: string }): Promise<void> {
      await sleep(1);
      audited.push({ tenant: this.tenancy.current().tenantId, title: message.title });
    }
  }

  @Module({
    imports: [...typeOrm(), TenancyModule.forRoot({ resolveContext: byPayload('tenantId') })],
    controllers: [PostsConsumer],
    providers: [{ provide: APP_INTERCEPTOR, useClass: TenancyInterceptor }],
  })
  class MicroserviceModule {}

  let app: Awaited<ReturnType<typeof NestFactory.createMicroservice>>;
  let client: ClientProxy;
  let acme: Tenant;
  let globex: Tenant;
  const send = <T>(pattern: string, message: object) => firstValueFrom(client.send<T>(pattern, message));

  beforeAll(async () => {
    app = await NestFactory.createMicroservice<MicroserviceOptions>(MicroserviceModule, {
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port: 0 },
      logger: false,
    });
    await app.listen();
    [acme, globex] = await seed(app.get(DataSource), app.get(Tenancy));
    const port = (app.unwrap<Server>().address() as AddressInfo).port;
    client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
    await client.connect();
  });
  afterAll(async () => {
    await client?.close();
    await app?.close();
  });

  it('binds the tenant of each message: repositories, @InjectTenantManager, @CurrentTenant, writes', async () => {
    expect(await send('posts.list', { tenantId: acme.id })).toEqual({ tenant: acme.id, titles: ['acme 1', 'acme 2'], current: acme.id });
    expect(await send('posts.list', { tenantId: String(globex.id) })).toEqual({ tenant: globex.id, titles: ['globex 1'], current: globex.id });
    expect(await send('posts.create', { tenantId: globex.id, title: 'globex 2' })).toEqual({ tenantId: globex.id });
    expect((await app.get(Tenancy).manager(globex).find(Post)).map((p) => p.title).sort()).toEqual(['globex 1', 'globex 2']);
    await app.get(Tenancy).manager(globex).delete(Post, { title: 'globex 2' });
  });

  it('streams and events run in the message tenant too', async () => {
    expect(await firstValueFrom(client.send<string>('posts.stream', { tenantId: acme.id }).pipe(toArray()))).toEqual([
      `${acme.id}:1:2`,
      `${acme.id}:2:2`,
      `${acme.id}:3:2`,
    ]);
    audited.length = 0;
    client.emit('posts.audit', { tenantId: globex.id, title: 'g' });
    client.emit('posts.audit', { tenantId: acme.id, title: 'a' });
    for (let i = 0; i < 100 && audited.length < 2; i++) await sleep(10);
    expect(audited.sort((x, y) => x.title.localeCompare(y.title))).toEqual([
      { tenant: acme.id, title: 'a' },
      { tenant: globex.id, title: 'g' },
    ]);
  });

  it('interleaved concurrent messages of two tenants never mix', async () => {
    const tenants = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? globex : acme));
    const replies = await Promise.all(tenants.map((t) => send('posts.list', { tenantId: t.id })));
    replies.forEach((reply, i) => {
      const t = tenants[i]!;
      expect(reply).toEqual({ tenant: t.id, titles: t === acme ? ['acme 1', 'acme 2'] : ['globex 1'], current: t.id });
    });
  });

  it('a message without a tenant, with an unknown one, or writing another tenant gets an RPC error with the status, naming nothing', async () => {
    const error = (pattern: string, message: object) => send(pattern, message).then(() => 'no error', (e: unknown) => e);
    expect(await error('posts.list', {})).toEqual({ status: 'error', statusCode: 400, message: 'Bad Request' });
    expect(await error('posts.list', { tenantId: '  ' })).toEqual({ status: 'error', statusCode: 400, message: 'Bad Request' });
    for (const tenantId of [999, 'abc', true, { id: acme.id }]) {
      expect(await error('posts.list', { tenantId })).toEqual({ status: 'error', statusCode: 404, message: 'Not Found' });
    }
    expect(await error('posts.create', { tenantId: 999, title: 'intruder' })).toEqual({ status: 'error', statusCode: 404, message: 'Not Found' });
    expect(await error('posts.steal', { tenantId: acme.id, other: globex.id })).toEqual({ status: 'error', statusCode: 403, message: 'Forbidden' });
    expect(await app.get(DataSource).manager.count(Post, { safe: false })).toBe(3);
  });
});

describe('TenancyInterceptor (@UseInterceptors) on a WebSocket gateway (@nestjs/platform-ws)', () => {
  /** The tenant each connection authenticated as, from its upgrade request. */
  const clientTenants = new WeakMap<object, string>();

  @WebSocketGateway({ path: '/ws' })
  @UseInterceptors(TenancyInterceptor)
  @UseFilters(TenancyExceptionFilter) // Nest applies no global filter to gateways
  class PostsGateway implements OnGatewayConnection {
    constructor(@InjectRepository(Post) private readonly posts: Repository<Post>) {}

    handleConnection(client: WebSocket, request: IncomingMessage): void {
      const header = request.headers['x-tenant'];
      if (typeof header === 'string') clientTenants.set(client, header);
      // TenancyExceptionFilter emits `exception` on the server-side socket, as Nest's WS filter does; send it on.
      client.on('exception', (payload: unknown) => client.send(JSON.stringify({ event: 'exception', data: payload })));
    }

    @SubscribeMessage('posts')
    async list(@MessageBody() _body: unknown, @CurrentTenant() tenant: number): Promise<object> {
      await sleep(1);
      return { event: 'posts', data: { tenant, titles: (await this.posts.find({ order: { id: 'ASC' } })).map((p) => p.title) } };
    }
  }

  /** forRootAsync({ useClass }): the tenant is the connection's, looked up by name. */
  @Injectable()
  class TenancyConfig implements TenancyOptionsFactory {
    constructor(private readonly dataSource: DataSource) {}
    createTenancyOptions(): TenancyModuleOptions {
      return {
        resolveContext: async (context) => {
          const name = clientTenants.get(context.switchToWs().getClient());
          return name === undefined ? undefined : ((await this.dataSource.manager.findOneBy(Tenant, { name }))?.id ?? null);
        },
      };
    }
  }

  @Module({ imports: [...typeOrm(), TenancyModule.forRootAsync({ useClass: TenancyConfig })], providers: [PostsGateway] })
  class GatewayModule {}

  let app: Awaited<ReturnType<typeof NestFactory.create>>;
  let port: number;
  const sockets: WebSocket[] = [];

  /** Opens a WebSocket as `tenant` (the x-tenant header of the upgrade request) and sends `count` messages. */
  async function ask(tenant: string | undefined, count = 1): Promise<unknown[]> {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: tenant === undefined ? {} : { 'x-tenant': tenant } });
    sockets.push(socket);
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const replies: unknown[] = [];
    const done = new Promise<void>((resolve) =>
      socket.on('message', (data: Buffer) => {
        replies.push(JSON.parse(data.toString()));
        if (replies.length === count) resolve();
      }),
    );
    for (let i = 0; i < count; i++) socket.send(JSON.stringify({ event: 'posts', data: {} }));
    await done;
    socket.close();
    return replies;
  }

  beforeAll(async () => {
    app = await NestFactory.create(GatewayModule, { logger: false });
    app.useWebSocketAdapter(new WsAdapter(app));
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as AddressInfo).port;
    await seed(app.get(DataSource), app.get(Tenancy));
  });
  afterAll(async () => {
    sockets.forEach((s) => s.terminate());
    await app?.close();
  });

  it('binds the tenant of the connection for each message; sockets of two tenants interleave without mixing', async () => {
    const acmeId = (await app.get(DataSource).manager.findOneByOrFail(Tenant, { name: 'acme' })).id;
    const globexId = (await app.get(DataSource).manager.findOneByOrFail(Tenant, { name: 'globex' })).id;
    const [acmeReplies, globexReplies] = await Promise.all([ask('acme', 20), ask('globex', 20)]);
    expect(acmeReplies).toEqual(Array(20).fill({ event: 'posts', data: { tenant: acmeId, titles: ['acme 1', 'acme 2'] } }));
    expect(globexReplies).toEqual(Array(20).fill({ event: 'posts', data: { tenant: globexId, titles: ['globex 1'] } }));
  });

  it('a connection without a tenant or with an unknown one gets an exception event with the status, naming nothing', async () => {
    expect(await ask(undefined)).toEqual([{ event: 'exception', data: { status: 'error', statusCode: 400, message: 'Bad Request' } }]);
    expect(await ask('initech')).toEqual([{ event: 'exception', data: { status: 'error', statusCode: 404, message: 'Not Found' } }]);
  });
});
