import type { DataSource } from 'typeorm';
import type { TenantId } from '../scoping/tenant-key.js';
import { callSite } from './call-site.js';

/** One `{ safe: false }` operation, as `onBypass` receives it. */
export interface BypassEvent {
  /** The tenant of the manager that bypassed (`undefined`: the default manager outside `tenancy.run()`). */
  readonly tenant: TenantId | undefined;
  /** The entity the operation is about, when it names one. */
  readonly entity?: string;
  /** The call: `find`, `findOneBy`, `count`, `createQueryBuilder`, `query`, ... */
  readonly operation: string;
  /** The SQL text of a raw `query(sql, params, { safe: false })`. */
  readonly sql?: string;
  /** The caller's stack frame (`file:line:column`), outside this package and TypeORM. */
  readonly callSite?: string;
}

/** A decision the library logs: a bypass, a refusal. */
export interface TenancyLogEvent {
  readonly level: 'info' | 'warn';
  readonly kind: 'bypass' | 'refusal';
  readonly message: string;
  readonly tenant?: TenantId;
  readonly entity?: string;
  readonly operation?: string;
  /** The error thrown, for refusals. */
  readonly error?: Error;
}

/** Receives the library's decisions. `'typeorm'` in the options forwards them to the DataSource's TypeORM logger. */
export interface TenancyLogger {
  log(event: TenancyLogEvent): void;
}

/** Forwards events to TypeORM's logger of a DataSource (`logger.log('info' | 'warn', message)`). */
export function typeormLogger(dataSource: DataSource): TenancyLogger {
  return { log: (event) => dataSource.logger.log(event.level, `[typeorm-tenancy] ${event.message}`) };
}

/**
 * The audit side of one Tenancy: the `onBypass` hook and the logger. A hook that throws
 * refuses the operation (it has not run yet); a promise it returns is not awaited, and a
 * rejection is logged rather than left unhandled.
 */
export class TenancyAudit {
  constructor(
    readonly onBypass: ((event: BypassEvent) => unknown) | undefined,
    readonly logger: TenancyLogger | undefined,
  ) {}

  /** True when bypasses are observed (then each one costs a stack capture). */
  get watchesBypasses(): boolean {
    return this.onBypass !== undefined || this.logger !== undefined;
  }

  bypass(event: Omit<BypassEvent, 'callSite'>): void {
    if (!this.watchesBypasses) return;
    const full: BypassEvent = { ...event, callSite: callSite() };
    this.logger?.log({
      level: 'info',
      kind: 'bypass',
      message: `{ safe: false } ${event.operation}${event.entity ? ` on ${event.entity}` : ''} by tenant ${String(event.tenant)}${full.callSite ? ` at ${full.callSite}` : ''}`,
      tenant: event.tenant,
      entity: event.entity,
      operation: event.operation,
    });
    const result = this.onBypass?.(full);
    if (result instanceof Promise) {
      result.catch((error: unknown) =>
        this.logger?.log({ level: 'warn', kind: 'bypass', message: `onBypass rejected: ${String(error)}`, operation: event.operation, tenant: event.tenant }),
      );
    }
  }

  refusal(error: Error & { tenant?: unknown; entity?: string; operation?: string }): void {
    this.logger?.log({
      level: 'warn',
      kind: 'refusal',
      message: `${error.name}: ${error.message}`,
      tenant: error.tenant as TenantId | undefined,
      entity: error.entity,
      operation: error.operation,
      error,
    });
  }
}
