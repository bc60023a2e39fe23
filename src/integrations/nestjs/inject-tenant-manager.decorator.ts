import { Inject } from '@nestjs/common';
import { TENANT_MANAGER } from './tenancy.constants.js';

/**
 * Injects a `TenantEntityManager` that always is the **current request's** tenant
 * manager: each property access and method call goes to `tenancy.current()`, so a
 * singleton service serves every tenant correctly — no request-scoped providers,
 * no per-request rebuild of the dependency graph. Used outside a request (in a
 * constructor, `onModuleInit`, a cron job without `tenancy.run()`), a call throws
 * `MissingTenantError`. Call `getRepository()` per request rather than caching a
 * repository in the constructor (or use `@InjectRepository()` with
 * `defaultManager: 'context'`).
 *
 * @example
 * @Injectable()
 * export class NotesService {
 *   constructor(@InjectTenantManager() private readonly em: TenantEntityManager) {}
 *   list() {
 *     return this.em.find(Note); // SELECT ... FROM "notes" "Note" WHERE "Note"."tenant_id" = ?
 *   }
 * }
 */
export function InjectTenantManager(): PropertyDecorator & ParameterDecorator {
  return Inject(TENANT_MANAGER);
}
