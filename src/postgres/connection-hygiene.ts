import type { DataSource, QueryRunner } from 'typeorm';
import {
  destroyRunnerConnection,
  isPostgresRunner,
  type PgClient,
  type PgPool,
  pgClientOf,
  poolsOf,
} from '../internal/typeorm/postgres-connection.js';

// A pooled PostgreSQL connection goes back to the pool only when its transaction state is
// known to be idle (DESIGN rule 10). After a client-side timeout (node-postgres
// `query_timeout`) the server is still running the statement inside the tenant's
// transaction: a ROLLBACK queues behind it and times out too, and a connection released
// then would hand the next borrower the open transaction, with its tenant binding or
// bypass role. Such a connection is destroyed; the server rolls its transaction back
// when it notices the closed connection.

/** The last error each client reported (a killed backend, a dropped socket), to name the cause later. */
const connectionErrors = new WeakMap<PgClient, Error>();
const watchedPools = new WeakSet<PgPool>();
const watchedClients = new WeakSet<PgClient>();

/** Records the connection errors of every client `pool` hands out (one listener per client, for its life). */
export function watchConnectionErrors(pool: PgPool): void {
  if (watchedPools.has(pool)) return;
  watchedPools.add(pool);
  pool.on('acquire', (client) => {
    if (watchedClients.has(client)) return;
    watchedClients.add(client);
    client.on('error', (error) => connectionErrors.set(client, error));
  });
}

/** `watchConnectionErrors` for the pools of a PostgreSQL DataSource (nothing on other drivers). */
export function watchDataSourceConnections(dataSource: DataSource): void {
  for (const pool of poolsOf(dataSource)) watchConnectionErrors(pool);
}

/**
 * What the driver says about the runner's connection. `idle`: no statement on its way and
 * no transaction open (the state a pooled connection must have). `busy`: a statement is
 * still on its way or queued (a client-side timeout fired). `in-transaction`: the server
 * reported an open or failed transaction. `unknown`: the driver cannot tell (pg < 8.21).
 * `none`: not a node-postgres connection, or not connected yet: nothing to inspect.
 */
export type ConnectionState = 'idle' | 'busy' | 'in-transaction' | 'unknown' | 'none';

export function connectionState(runner: QueryRunner): ConnectionState {
  const client = isPostgresRunner(runner) ? pgClientOf(runner) : undefined;
  if (!client) return 'none';
  // pg sends queued queries as soon as it is ready, so not ready = something on its way or queued.
  if (client.readyForQuery === false) return 'busy';
  const status = client.getTransactionStatus?.();
  if (status === 'I') return 'idle';
  if (status === 'T' || status === 'E') return 'in-transaction';
  return 'unknown';
}

/** True when the runner may go back to the pool: TypeORM has no transaction open and the driver reports idle. */
export function isReleasable(runner: QueryRunner): boolean {
  if (!isPostgresRunner(runner)) return true;
  if (runner.isTransactionActive) return false;
  const state = connectionState(runner);
  // pg < 8.21 cannot report the transaction status: TypeORM's own flag is all there is.
  return state === 'idle' || state === 'none' || state === 'unknown';
}

function doubtful(runner: QueryRunner, reason: string, cause?: unknown): Error {
  return new Error(`typeorm-tenancy destroyed a pooled connection: ${reason}`, cause === undefined ? undefined : { cause });
}

/** Ends the runner's connection instead of returning it to the pool. Never rejects. */
export async function destroyConnection(runner: QueryRunner, reason: string, cause?: unknown): Promise<void> {
  if (runner.isReleased) return;
  await destroyRunnerConnection(runner, doubtful(runner, reason, cause)).catch(() => undefined);
}

/** Releases the runner: back to the pool when its state is known idle, destroyed otherwise. Never rejects. */
export async function releaseConnection(runner: QueryRunner): Promise<void> {
  if (runner.isReleased) return;
  if (isReleasable(runner)) {
    await runner.release().catch(() => undefined);
    return;
  }
  await destroyConnection(runner, `its transaction state is ${runner.isTransactionActive ? 'open' : connectionState(runner)}, not known to be idle`);
}

/**
 * Rolls back the runner's open transaction after a failure; when that cannot be done
 * (a statement is still on its way, so the ROLLBACK would only queue behind it) or fails,
 * the connection is destroyed instead. Never rejects: the caller rethrows its own error.
 */
export async function rollbackOrDestroy(runner: QueryRunner): Promise<void> {
  if (runner.isReleased) return;
  if (connectionState(runner) === 'busy') {
    await destroyConnection(runner, 'a statement of the failed transaction is still running (client-side timeout); a ROLLBACK would queue behind it');
    return;
  }
  if (runner.isTransactionActive) {
    try {
      await runner.rollbackTransaction();
    } catch (error) {
      await destroyConnection(runner, 'the ROLLBACK of a failed transaction failed', error);
      return;
    }
  }
  const state = connectionState(runner);
  if (state === 'busy' || state === 'in-transaction') await destroyConnection(runner, `after the ROLLBACK the connection is ${state}`);
}

/**
 * Names the real cause of an error that only says the runner is gone: when a backend is
 * killed (SQLSTATE 57P01) or the socket drops, TypeORM releases the runner and the next
 * statement fails with `QueryRunnerAlreadyReleasedError`. The connection's own error
 * becomes its `cause` and is named in the message.
 */
export function withConnectionCause<E>(error: E, runner: QueryRunner | undefined): E {
  if (!(error instanceof Error) || !runner || error.cause !== undefined) return error;
  if (error.name !== 'QueryRunnerAlreadyReleasedError') return error;
  const client = pgClientOf(runner);
  const lost = client ? connectionErrors.get(client) : undefined;
  if (!lost) return error;
  const code = (lost as { code?: unknown }).code;
  Object.defineProperty(error, 'cause', { value: lost, configurable: true, writable: true, enumerable: false });
  error.message += ` Its connection was lost: ${lost.message}${typeof code === 'string' ? ` (SQLSTATE ${code})` : ''}.`;
  return error;
}

/** The members of a result stream (pg-query-stream, a Node Readable) used below. */
interface ResultStream {
  readonly destroyed: boolean;
  readonly closed?: boolean;
  destroy(error?: Error): unknown;
  emit(event: 'error' | 'close', ...args: unknown[]): boolean;
  once(event: 'close', listener: () => void): unknown;
}

/**
 * Ends a result stream with an error when its connection is lost. node-postgres' cursor
 * stream destroys itself then, but its destroy waits for the cursor's close, which a dead
 * connection never confirms: it would emit neither 'error' nor 'close', and its consumer
 * (and the transaction's `finish`) would wait forever. The stream's own events are emitted
 * for it in that case.
 */
const watchedStreams = new WeakSet<ResultStream>();

export function failStreamOnConnectionLoss(runner: QueryRunner, stream: ResultStream): void {
  const client = isPostgresRunner(runner) ? pgClientOf(runner) : undefined;
  if (!client || watchedStreams.has(stream)) return;
  watchedStreams.add(stream);
  let closed = false;
  const onError = (error: Error) => {
    client.removeListener('error', onError);
    const lost = connectionErrors.get(client) ?? error;
    const failure = new Error(`The connection of a result stream was lost: ${lost.message}`, { cause: lost });
    if (!stream.destroyed) {
      stream.destroy(failure);
      return;
    }
    // Destroyed already, its destroy stuck on the dead connection: finish it for the consumer.
    setImmediate(() => {
      if (closed || stream.closed) return;
      stream.emit('error', failure);
      stream.emit('close');
    });
  };
  client.on('error', onError);
  stream.once('close', () => {
    closed = true;
    client.removeListener('error', onError);
  });
}
