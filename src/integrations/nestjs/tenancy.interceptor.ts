import { type CallHandler, type ExecutionContext, Inject, Injectable, type NestInterceptor } from '@nestjs/common';
import { Observable } from 'rxjs';
import { MissingTenantError, UnknownTenantError } from '../../errors.js';
import { Tenancy } from '../../tenancy.js';
import { checkTenant } from '../request-tenant.js';
import { TENANCY_MODULE_OPTIONS } from './tenancy.constants.js';
import type { TenancyModuleOptions } from './tenancy-module-options.js';

/**
 * Binds the tenant of a microservice (`rpc`) or WebSocket (`ws`) handler call: finds it with the
 * module's `resolveContext` from the execution context (checked with `exists` like
 * HTTP tenants), and runs the handler — pipes, `@CurrentTenant()`, the handler and
 * everything it awaits or emits — inside `tenancy.run()`. Other calls (HTTP,
 * GraphQL over HTTP) pass through: the module's middleware binds those. A call naming no tenant is a
 * `MissingTenantError`, one naming an unknown tenant an `UnknownTenantError`
 * (`TenancyExceptionFilter` answers them with status 400 and 404).
 *
 * Guards run before interceptors, so they do not see the tenant; an interceptor
 * listed before this one does not either.
 *
 * @example
 * TenancyModule.forRoot({ resolveContext: byPayload('tenantId') }),
 *
 * @Controller()
 * @UseInterceptors(TenancyInterceptor)          // or globally: { provide: APP_INTERCEPTOR, useClass: TenancyInterceptor }
 * export class PostsConsumer {
 *   constructor(@InjectRepository(Post) private readonly posts: Repository<Post>) {}
 *   @MessagePattern('posts.list')
 *   list() {
 *     return this.posts.find(); // WHERE "Post"."tenant_id" = $1, the message's tenant
 *   }
 * }
 */
@Injectable()
export class TenancyInterceptor implements NestInterceptor {
  constructor(
    @Inject(TENANCY_MODULE_OPTIONS) private readonly options: TenancyModuleOptions,
    @Inject(Tenancy) private readonly tenancy: Tenancy,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const resolve = this.options.resolveContext;
    const type = context.getType();
    if (!resolve || (type !== 'rpc' && type !== 'ws')) return next.handle();
    return new Observable((subscriber) => {
      let unsubscribed = false;
      let inner: { unsubscribe(): void } | undefined;
      const bind = async () => {
        const found = await checkTenant(this.tenancy, await resolve(context), this.options.exists);
        if (found.status === 'missing') {
          throw new MissingTenantError(`The ${context.getType()} call to ${describe(context)} names no tenant: resolveContext found none.`, {
            operation: 'TenancyInterceptor',
          });
        }
        if (found.status === 'unknown') {
          throw new UnknownTenantError(`The ${context.getType()} call to ${describe(context)} names a tenant that does not exist.`, { operation: 'TenancyInterceptor' });
        }
        if (unsubscribed) return;
        // next.handle() captures the async context it is called in: the handler runs inside run().
        inner = this.tenancy.run(found.tenantId, () => next.handle().subscribe(subscriber));
      };
      bind().catch((error: unknown) => subscriber.error(error));
      return () => {
        unsubscribed = true;
        inner?.unsubscribe();
      };
    });
  }
}

function describe(context: ExecutionContext): string {
  return `${context.getClass().name}.${context.getHandler().name}()`;
}
