import type { DataSource, QueryRunner } from 'typeorm';

/**
 * Runs `fn` in a transaction on a runner of its own: commit on success, rollback on
 * any error (rethrown), release either way. For administrative work (tenant
 * lifecycle, migrations, policy installation) that must not half-happen.
 */
export async function inOwnTransaction<T>(dataSource: DataSource, fn: (runner: QueryRunner) => Promise<T>): Promise<T> {
  const runner = dataSource.createQueryRunner();
  try {
    await runner.startTransaction();
    const result = await fn(runner);
    await runner.commitTransaction();
    return result;
  } catch (error) {
    if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
    throw error;
  } finally {
    await runner.release();
  }
}
