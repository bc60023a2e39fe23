import type { ServerResponse } from 'node:http';
import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { type Observable, throwError } from 'rxjs';
import { TenancyError } from '../../errors.js';
import { tenancyErrorStatus } from '../tenancy-error-status.js';

/**
 * Answers `TenancyError`s with their HTTP status instead of Nest's 500, with the
 * body Nest gives its own exceptions (`{"message":"Forbidden","statusCode":403}`):
 * `MissingTenantError` 400, `TenantMismatchError` 403, `UnknownTenantError` 404,
 * `StorageUnavailableError` 503, `StorageConflictError` 409, `UnsafeQueryError` and `TenancyConfigError` 500 (the
 * application is wrong, not the request: logged with Nest's `Logger`). The error's
 * message — entities, operations, tenant ids — is never sent.
 *
 * Microservice handlers get the same as an RPC error,
 * `{ status: 'error', statusCode: 404, message: 'Not Found' }`; WebSocket handlers
 * emit it as an `exception` event on the client, as Nest's own WebSocket filter does
 * (socket.io delivers it to the client; with `@nestjs/platform-ws` it is an event on
 * the server's socket object).
 *
 * `TenancyModule` registers it globally (`exceptionFilter: false` to opt out).
 *
 * @example
 * // by hand (with TenancyModule.forRoot({ ..., exceptionFilter: false })):
 * app.useGlobalFilters(new TenancyExceptionFilter(app.get(HttpAdapterHost)));
 * @UseFilters(TenancyExceptionFilter) // or on one controller or gateway
 */
@Catch(TenancyError)
export class TenancyExceptionFilter implements ExceptionFilter<TenancyError> {
  private static readonly logger = new Logger('TenancyExceptionFilter');

  constructor(@Optional() private readonly adapterHost?: HttpAdapterHost) {}

  catch(error: TenancyError, host: ArgumentsHost): Observable<never> | HttpException | undefined {
    const { status, message } = tenancyErrorStatus(error);
    if (status >= 500) TenancyExceptionFilter.logger.error(error.message, error.stack);
    const body = { message, statusCode: status };
    switch (host.getType()) {
      case 'http':
        this.#reply(host.switchToHttp().getResponse(), body);
        return undefined;
      case 'rpc':
        return throwError(() => ({ status: 'error', ...body }));
      case 'ws':
        host.switchToWs().getClient<{ emit?: (event: string, payload: unknown) => unknown }>().emit?.('exception', { status: 'error', ...body });
        return undefined;
      default:
        return new HttpException(body, status); // GraphQL and other transports: filters return the error to report
    }
  }

  #reply(response: unknown, body: { message: string; statusCode: number }): void {
    const adapter = this.adapterHost?.httpAdapter;
    if (adapter) {
      if (adapter.isHeadersSent(response)) adapter.end(response);
      else adapter.reply(response, body, body.statusCode);
      return;
    }
    // Constructed without the adapter host: a Node response (Express) is answered directly.
    const raw = response as ServerResponse;
    if (raw.headersSent) return void raw.end();
    const text = JSON.stringify(body);
    raw.statusCode = body.statusCode;
    raw.setHeader('Content-Type', 'application/json; charset=utf-8');
    raw.end(text);
  }
}
