import { describe, expect, it } from 'vitest';
import { loadSqlParser, sqlProblem } from '../src/postgres/raw-sql-guard.js';

// The vetting itself, without a database: PostgreSQL's parser (libpg-query) and the rules on
// its tree. test/postgres/raw-sql-vetting.test.ts probes the same through tenant managers.

const refused: Array<[string, RegExp]> = [
  ["SELECT set_config('app.tenant_id', '2', true)", /set_config\(\) changes a setting/],
  ['SELECT * FROM pg_catalog.set_config($1, $2, false)', /set_config/],
  [`SELECT U&"set_confi\\0067"('a', 'b', false)`, /set_config/],
  ["WITH x AS (SELECT 1 WHERE set_config('a', 'b', true) IS NULL) SELECT * FROM x", /set_config/],
  ["SELECT coalesce(NULL, (SELECT length(set_config('a', 'b', true))))", /set_config/],
  ['SET ROLE x', /changes the role/],
  ['set local role x', /changes the role/],
  ['SET SESSION AUTHORIZATION x', /changes the role/],
  ['RESET ALL', /RESET ALL/],
  ["SET LOCAL app.tenant_id = '2'", /changes a setting \(app\.tenant_id\)/],
  ['SET search_path = x', /search_path/],
  ["SET statement_timeout = '1s'", /statement_timeout/], // a session SET, not LOCAL
  ['BEGIN', /transaction control/],
  ['COMMIT; SELECT 1', /transaction control/],
  ['SELECT 1; /* ; */ ROLLBACK', /transaction control/],
  ['DISCARD ALL', /DISCARD/],
  ['DO $$ BEGIN END $$', /DO block/],
  ['CALL p()', /CALL/],
  ['PREPARE p AS SELECT 1', /prepared statements/],
  ['LISTEN c', /LISTEN/],
  ["LOAD 'x'", /LOAD/],
  ['ALTER ROLE x SET a.b = 1', /settings of a role/],
  ['DECLARE c CURSOR WITH HOLD FOR SELECT 1', /WITH HOLD/],
  ['SELECT 1 INTO TEMP t', /INTO creates a table/],
  ['INSERT INTO t SELECT * FROM (SELECT 1 INTO TEMP u) s', /does not parse|INTO/],
  ['CREATE TEMP TABLE t (id int)', /not data access/],
  ['SELECT pg_advisory_lock(1)', /session-level advisory lock/],
  ["SELECT query_to_xml('select 1', true, false, '')", /runs SQL given as text/],
  ["SELECT dblink_exec('x', 'y')", /dblink/],
  ['SELEC 1', /does not parse/],
];

const allowed = [
  'SELECT title FROM posts WHERE id = $1',
  "SELECT current_setting('app.tenant_id', true)",
  'INSERT INTO tags (label) VALUES ($1) ON CONFLICT DO NOTHING RETURNING id',
  'WITH moved AS (DELETE FROM tags WHERE id = $1 RETURNING *) SELECT * FROM moved',
  "SET LOCAL statement_timeout = '5s'",
  'SET LOCAL lock_timeout TO DEFAULT',
  'SHOW search_path',
  'SELECT pg_advisory_xact_lock(1)',
  'LOCK TABLE tags IN SHARE MODE',
  'DECLARE c CURSOR FOR SELECT 1',
  'FETCH 10 FROM c',
  'CLOSE c',
  'SET CONSTRAINTS ALL DEFERRED',
  'EXPLAIN SELECT 1',
  'SELECT 1; SELECT 2',
  "SELECT 'set_config(''a'', ''b'', false)' AS just_text -- set_config( in a comment",
];

describe('raw SQL vetting (PostgreSQL parser)', () => {
  it.each(refused)('refuses %s', async (sql, why) => {
    expect(sqlProblem(sql, await loadSqlParser())).toMatch(why);
  });
  it.each(allowed)('allows %s', async (sql) => {
    expect(sqlProblem(sql, await loadSqlParser())).toBeUndefined();
  });
});
