import pg from 'pg';
import { DataSource } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { pgModuleOf } from '../../src/internal/typeorm/postgres-connection.js';

// What src/internal/pg/fusing-client.ts relies on in node-postgres (checked against pg 8.23,
// pg-protocol 1.10, pg-pool 3.14). When an upgrade changes one of them, the failing test
// names the member; the fused binding (one round trip per bound statement) depends on each.

describe('node-postgres internals the fused binding depends on (fusing-client.ts)', () => {
  const Query = (pg as unknown as { Query: { prototype: Record<string, unknown> } }).Query;

  it('pg exports Query; Query#submit corks around prepare() when requiresPreparation() (queryMode "extended")', () => {
    expect(typeof Query).toBe('function');
    const submit = String(Query.prototype.submit);
    expect(submit).toMatch(/this\.requiresPreparation\(\)/);
    expect(submit).toMatch(/this\.prepare\(connection\)/);
    expect(String(Query.prototype.requiresPreparation)).toMatch(/this\.queryMode === 'extended'/);
  });

  it('Query#prepare sends Parse (unless parsed), Bind, Describe portal, then Execute + one Sync through _getRows', () => {
    const prepare = String(Query.prototype.prepare);
    expect(prepare).toMatch(/connection\.parse\(/);
    expect(prepare).toMatch(/connection\.bind\(/);
    expect(prepare).toMatch(/connection\.describe\(/);
    expect(prepare).toMatch(/this\._getRows\(connection, this\.rows\)/);
    expect(String(Query.prototype._getRows)).toMatch(/connection\.sync\(\)/);
  });

  it('Query routes rows and completions through handleRowDescription, handleDataRow, handleCommandComplete, handleError, handleReadyForQuery', () => {
    for (const name of ['handleRowDescription', 'handleDataRow', 'handleCommandComplete', 'handleError', 'handleReadyForQuery']) {
      expect(typeof Query.prototype[name], name).toBe('function');
    }
    const client = pg.Client.prototype as unknown as Record<string, unknown>;
    expect(String(client._handleDataRow)).toMatch(/activeQuery\.handleDataRow\(msg\)/);
    expect(String(client._handleCommandComplete)).toMatch(/activeQuery\.handleCommandComplete\(msg, this\.connection\)/);
    // The status is recorded before the query hears of the ReadyForQuery: the fused query checks it there.
    expect(String(client._handleReadyForQuery)).toMatch(/this\._txStatus = [\s\S]*activeQuery\.handleReadyForQuery/);
  });

  it('Client: getTransactionStatus() (pg ≥ 8.21), pipeline flag, query() accepts a submittable', () => {
    const client = pg.Client.prototype as unknown as Record<string, unknown>;
    expect(typeof client.getTransactionStatus).toBe('function');
    expect(String(client._pulseQueryQueue)).toMatch(/this\.pipeline/);
    expect(String(client.query)).toMatch(/typeof config\.submit === 'function'/);
  });

  it('pg-protocol Connection: parse, bind, execute, describe, sync and parsedStatements', () => {
    const connection = new (pg as unknown as { Connection: new () => Record<string, unknown> }).Connection();
    for (const name of ['parse', 'bind', 'execute', 'describe', 'sync']) expect(typeof connection[name], name).toBe('function');
    expect(connection.parsedStatements).toEqual({});
  });

  it('pg-pool builds its clients from options.Client (where extra.Client lands)', () => {
    class Mine extends pg.Client {}
    const pool = new pg.Pool({ Client: Mine } as never) as unknown as { Client: unknown; end(): Promise<void> };
    expect(pool.Client).toBe(Mine);
    void pool.end();
  });

  it('TypeORM: the driver keeps the pg module it loaded (driver.postgres) and merges extra (with Client) into the pool options', () => {
    const ds = new DataSource({ type: 'postgres', url: 'postgres://x@127.0.0.1:1/x' });
    expect(pgModuleOf(ds)).toBe(pg);
    const createPool = String((ds.driver as unknown as { createPool: unknown }).createPool);
    expect(createPool).toMatch(/options\.extra/);
    expect(createPool).toMatch(/new this\.postgres\.Pool\(/);
  });
});
