import pg from 'pg';
import { DataSource } from 'typeorm';
import { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';
import { PostgresQueryRunner } from 'typeorm/driver/postgres/PostgresQueryRunner.js';
import { describe, expect, it } from 'vitest';
import {
  createPostgresPool,
  destroyRunnerConnection,
  obtainConnectionsFrom,
  type PgPool,
  pgClientOf,
  poolsOf,
} from '../../src/internal/typeorm/postgres-connection.js';
import { createTestDatabase, databaseKinds } from '../support/databases.js';

// What src/internal/typeorm/postgres-connection.ts relies on in TypeORM's PostgreSQL driver
// and runner and in node-postgres (checked against typeorm 1.1.1, pg 8.23, pg-pool 3.14).
// When an upgrade changes one of them, the failing test names it.

describe('PostgreSQL internals typeorm-tenancy depends on', () => {
  it('PostgresQueryRunner: connect() obtains through this.driver.obtainMasterConnection; releasePostgresConnection(err) exists', () => {
    const proto = PostgresQueryRunner.prototype as unknown as Record<string, unknown>;
    expect(typeof proto.releasePostgresConnection).toBe('function');
    expect(String(proto.connect)).toMatch(/this\.driver\s*\.obtainMasterConnection\(\)/);
    expect(String(proto.releasePostgresConnection)).toMatch(/this\.releaseCallback\(err\)/);
  });

  it('PostgresDriver: createPool(options, credentials) and obtainMasterConnection() exist; master and slaves hold the pools', () => {
    const proto = PostgresDriver.prototype as unknown as Record<string, unknown>;
    expect(typeof proto.createPool).toBe('function');
    expect(typeof proto.obtainMasterConnection).toBe('function');
    expect(String(proto.disconnect)).toMatch(/this\.master/);
    expect(String(proto.disconnect)).toMatch(/this\.slaves/);
  });

  it('node-postgres: Client#getTransactionStatus() (pg >= 8.21)', () => {
    expect(typeof (pg.Client.prototype as unknown as Record<string, unknown>).getTransactionStatus).toBe('function');
  });

  describe.skipIf(!databaseKinds().includes('postgres'))('against a server', () => {
    it('the client reports idle / in transaction; release with an error destroys it; a runner can take connections from another pool', async () => {
      const db = await createTestDatabase('postgres');
      const ds = new DataSource({ ...db.options, extra: { max: 1 } } as never);
      await ds.initialize();
      try {
        const [pool] = poolsOf(ds) as Array<PgPool & { totalCount: number }>;
        const acquired: unknown[] = [];
        pool!.on('acquire', (client) => acquired.push(client));
        const runner = ds.createQueryRunner();
        await runner.connect();
        const client = pgClientOf(runner)!;
        expect(acquired).toEqual([client]);
        expect([client.getTransactionStatus!(), client.readyForQuery]).toEqual(['I', true]);
        await runner.startTransaction();
        expect(client.getTransactionStatus!()).toBe('T');
        const running = runner.query('SELECT pg_sleep(0.2)');
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(client.readyForQuery).toBe(false);
        await running;
        expect(pool!.totalCount).toBe(1);
        await destroyRunnerConnection(runner, new Error('canary'));
        expect(runner.isReleased).toBe(true);
        expect(pool!.totalCount).toBe(0);

        const other = (await createPostgresPool(ds, { url: (db.options as { url: string }).url })) as PgPool & { totalCount: number };
        const borrowed = ds.createQueryRunner();
        obtainConnectionsFrom(borrowed, async () => other);
        expect(await borrowed.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
        expect([other.totalCount, pool!.totalCount]).toEqual([1, 0]);
        await borrowed.release();
        await other.end();
      } finally {
        await ds.destroy();
        await db.drop();
      }
    });
  });
});
