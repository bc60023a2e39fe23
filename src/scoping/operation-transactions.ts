import type { QueryRunner } from 'typeorm';
import { underlyingRunner } from '../internal/typeorm/runner-view.js';

// PostgreSQL aborts a transaction at its first failed statement. An insert that carries its own
// reference check (folded-reference-check.ts) refuses by failing as a statement: inside a transaction
// of the caller's, that would leave the caller's transaction unusable, where a refusal leaves what it
// refuses as it was (the caller may catch it and go on). Such inserts take the separate check there.
// Transactions an operation opens for itself (save()'s, the short one of a bound operation) end with
// the operation, which rolls back on the error anyway: folding costs nothing more there.

const operationTransactions = new WeakSet<QueryRunner>();

/**
 * Runs `work`, an operation that may open a transaction of its own on `runner` (and ends it), marking
 * that transaction as the operation's. A runner already in a transaction (the caller's) is not marked.
 */
export function asOperationTransaction<T>(runner: QueryRunner | undefined, work: () => Promise<T>): Promise<T> {
  const base = runner && underlyingRunner(runner);
  if (!base || base.isTransactionActive || operationTransactions.has(base) || continuesAfterFailure(base)) return work();
  operationTransactions.add(base);
  return work().finally(() => operationTransactions.delete(base));
}

/** Whether a statement on `runner` may fail without costing its caller the transaction it is in. */
export function statementMayFail(runner: QueryRunner | undefined): boolean {
  if (!runner || !runner.isTransactionActive || continuesAfterFailure(runner)) return true;
  return operationTransactions.has(underlyingRunner(runner));
}

// SQLite undoes the failed statement only; the transaction goes on.
function continuesAfterFailure(runner: QueryRunner): boolean {
  return runner.connection.driver.options.type === 'better-sqlite3';
}
