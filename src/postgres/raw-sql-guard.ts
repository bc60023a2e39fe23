import type { EntitySubscriberInterface, QueryRunner } from 'typeorm';
import type { BeforeQueryEvent } from 'typeorm/subscriber/event/QueryEvent.js';
import { UnsafeQueryError } from '../errors.js';

// SQL that runs on a connection bound to a tenant (row-level security, schema strategy)
// must not change what binds it — the tenant setting, the role, search_path — nor leave
// state on the session for the next borrower of the pooled connection, nor end or split
// the bound transaction. Raw SQL is vetted with PostgreSQL's own parser (libpg-query, the
// server's grammar compiled to WebAssembly), once per distinct text: a statement kind that
// is not plain data access, or a call of a built-in that changes settings, takes session
// locks or runs SQL text given as a string, is refused before anything is sent.
//
// What it cannot see: the bodies of functions, procedures, triggers, views and rules that
// already exist in the database. Those are code an administrator installed; a function that
// calls set_config() or SET ROLE inside, or a SECURITY DEFINER function, acts with whatever
// it was written to do. The README's threat model says so.

interface Parser {
  parseSync(sql: string): { stmts?: Array<{ stmt?: Record<string, unknown> }> };
}

let parser: Parser | undefined;
let loading: Promise<Parser> | undefined;

/** Loads the parser once (≈30 ms, WebAssembly); later calls resolve at once. */
export function loadSqlParser(): Promise<Parser> {
  if (parser) return Promise.resolve(parser);
  loading ??= import('libpg-query').then(async (module) => {
    await module.loadModule();
    parser = module as unknown as Parser;
    return parser;
  });
  return loading;
}

/** Statement kinds raw SQL may run on a bound connection: data access, and nothing that outlives the transaction. */
const allowedStatements = new Set([
  'SelectStmt',
  'InsertStmt',
  'UpdateStmt',
  'DeleteStmt',
  'MergeStmt',
  'ExplainStmt', // its statement is vetted like any other (EXPLAIN ANALYZE runs it)
  'VariableShowStmt',
  'LockStmt', // held until the transaction ends
  'DeclareCursorStmt', // without WITH HOLD: closed when the transaction ends
  'FetchStmt',
  'ClosePortalStmt',
  'ConstraintsSetStmt', // SET CONSTRAINTS: this transaction only
  'NotifyStmt', // sent at commit
  'VariableSetStmt', // only SET LOCAL of the timeouts below
]);

/** Settings raw SQL may change with SET LOCAL: they end with the transaction and bind nothing. */
const localSettings = new Set(['statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'transaction_timeout']);

/** Built-ins that change a setting, take a session-level lock, run SQL given as text, or act on other sessions. */
const refusedFunctions = new Map<string, string>([
  ['set_config', 'changes a setting (the tenant binding, the role, search_path)'],
  ...['pg_advisory_lock', 'pg_advisory_lock_shared', 'pg_try_advisory_lock', 'pg_try_advisory_lock_shared', 'pg_advisory_unlock', 'pg_advisory_unlock_shared', 'pg_advisory_unlock_all'].map(
    (name): [string, string] => [name, 'takes or releases a session-level advisory lock, which outlives the transaction (use the pg_advisory_xact_* functions)'],
  ),
  ...['query_to_xml', 'query_to_xmlschema', 'query_to_xml_and_xmlschema', 'cursor_to_xml', 'cursor_to_xmlschema', 'ts_stat', 'ts_rewrite', 'crosstab', 'crosstab2', 'crosstab3', 'crosstab4', 'connectby', 'xpath_table'].map(
    (name): [string, string] => [name, 'runs SQL given as text, which cannot be vetted'],
  ),
  ...['pg_cancel_backend', 'pg_terminate_backend', 'pg_reload_conf'].map((name): [string, string] => [name, "acts on other sessions (other tenants' connections)"]),
]);

function refusedFunction(name: string): string | undefined {
  const lower = name.toLowerCase();
  if (lower.startsWith('dblink')) return 'opens or uses another connection (dblink), which cannot be vetted';
  return refusedFunctions.get(lower);
}

const transactionControl = 'is transaction control: it would end or split the bound transaction (use manager.transaction() and TypeORM\'s nested transactions)';

/** Why one top-level statement is refused, or undefined. */
function statementProblem(kind: string, node: Record<string, unknown>): string | undefined {
  if (!allowedStatements.has(kind)) {
    if (kind === 'TransactionStmt') return transactionControl;
    if (kind === 'DiscardStmt') return 'DISCARD resets session state';
    if (kind === 'DoStmt' || kind === 'CallStmt') return `${kind === 'DoStmt' ? 'a DO block' : 'CALL'} runs procedural code that cannot be vetted`;
    if (kind === 'PrepareStmt' || kind === 'ExecuteStmt' || kind === 'DeallocateStmt') return 'prepared statements are session state';
    if (kind === 'ListenStmt' || kind === 'UnlistenStmt') return 'LISTEN/UNLISTEN is session state';
    if (kind === 'LoadStmt') return 'LOAD loads a library into the session';
    if (/^Alter(Role|Database|System)/.test(kind)) return 'it changes settings of a role, a database or the server';
    return `${kind.replace(/Stmt$/, '')} is not data access (only SELECT, INSERT, UPDATE, DELETE, MERGE and their helpers run on a bound connection)`;
  }
  if (kind === 'VariableSetStmt') {
    const name = typeof node.name === 'string' ? node.name : '';
    if (node.is_local === true && localSettings.has(name) && (node.kind === 'VAR_SET_VALUE' || node.kind === 'VAR_SET_DEFAULT')) return undefined;
    if (name === 'role' || name === 'session_authorization') return `SET ${name.toUpperCase()} changes the role`;
    if (node.kind === 'VAR_RESET_ALL') return 'RESET ALL resets every setting';
    return `SET/RESET changes a setting${name ? ` (${name})` : ''}; only SET LOCAL of ${[...localSettings].join(', ')} is allowed`;
  }
  if (kind === 'DeclareCursorStmt' && typeof node.options === 'number' && (node.options & 0x20) !== 0) return 'a cursor WITH HOLD outlives the transaction';
  if (kind === 'SelectStmt' && node.intoClause) return 'SELECT ... INTO creates a table';
  return undefined;
}

/** Why an expression anywhere in the tree is refused, or undefined. */
function treeProblem(value: unknown): string | undefined {
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem = treeProblem(item);
      if (problem) return problem;
    }
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  for (const [key, child] of Object.entries(value)) {
    if (key === 'FuncCall') {
      const names = (child as { funcname?: Array<{ String?: { sval?: string } }> }).funcname ?? [];
      const name = names.at(-1)?.String?.sval ?? '';
      const why = refusedFunction(name);
      if (why) return `${name}() ${why}`;
    } else if (key === 'SelectStmt' && (child as { intoClause?: unknown }).intoClause) {
      return 'SELECT ... INTO creates a table';
    }
    const problem = treeProblem(child);
    if (problem) return problem;
  }
  return undefined;
}

// Parsing costs up to ~1 ms for a large statement (the tree crosses from WebAssembly as JSON),
// so SQL that cannot hold anything refused skips it: one statement (no ';' anywhere) that
// starts with a data-access keyword, names none of the refused functions (an identifier
// cannot be split, and without U& escapes its letters are in the text), and has no INTO but
// an INSERT's own.
// Anything else, false alarms included, is parsed.
const refusedNames = new RegExp([...refusedFunctions.keys(), 'dblink', 'u&'].map((n) => n.replace(/[^a-z0-9_]/gi, (c) => `\\${c}`)).join('|'), 'i');
const dataAccess = /^\s*(select|insert|update|delete|with)\b/i;
const into = /\binto\b/gi;
const insert = /^\s*insert\b/i;

function plainlyAllowed(sql: string): boolean {
  if (!dataAccess.test(sql) || sql.includes(';') || refusedNames.test(sql)) return false;
  // INSERT INTO has one INTO; any other (SELECT ... INTO anywhere) is parsed.
  return (sql.match(into)?.length ?? 0) <= (insert.test(sql) ? 1 : 0);
}

const verdicts = new Map<string, string | null>();
const MAX_VERDICTS = 5000;

/** Why `sql` may not run on a bound connection, or undefined when it may. Needs the parser loaded. */
export function sqlProblem(sql: string, loaded: Parser): string | undefined {
  const known = verdicts.get(sql);
  if (known !== undefined) return known ?? undefined;
  const problem = plainlyAllowed(sql) ? undefined : parsedProblem(sql, loaded);
  // A bounded cache: the oldest verdict goes first.
  if (verdicts.size >= MAX_VERDICTS) verdicts.delete(verdicts.keys().next().value as string);
  verdicts.set(sql, problem ?? null);
  return problem;
}

function parsedProblem(sql: string, loaded: Parser): string | undefined {
  try {
    for (const { stmt } of loaded.parseSync(sql).stmts ?? []) {
      const [kind, node] = Object.entries(stmt ?? {})[0] ?? ['', {}];
      const problem = statementProblem(kind, node as Record<string, unknown>) ?? treeProblem(node);
      if (problem) return problem;
    }
    return undefined;
  } catch (error) {
    return `it does not parse as PostgreSQL (${error instanceof Error ? error.message : String(error)})`;
  }
}

function refusal(sql: string, problem: string, details: { operation: string; tenant?: unknown }): UnsafeQueryError {
  const shown = sql.length > 120 ? `${sql.slice(0, 117)}...` : sql;
  return new UnsafeQueryError(
    `Raw SQL on a connection bound to tenant ${String(details.tenant)} was refused, nothing was run: ${problem}. SQL: ${JSON.stringify(shown)}. ` +
      'Raw SQL through a tenant manager may read and write rows, not change the tenant binding, the role, settings, session state or the transaction. ' +
      'Run administrative SQL on a DataSource of its own (not through tenancy.manager()).',
    details,
  );
}

/** Refuses (UnsafeQueryError, before anything runs) raw SQL that could change the binding, the role or session state. */
export async function assertRawSqlAllowed(sql: string, details: { operation: string; tenant?: unknown }): Promise<void> {
  const problem = sqlProblem(sql, await loadSqlParser());
  if (problem) throw refusal(sql, problem, details);
}

// Statements TypeORM and the library send on a bound connection: transaction control (TypeORM's
// savepoints, and the one the library's catalog question runs in: fold-blockers.ts) and the
// binding statements. Compared as whole texts; raw SQL from users never reaches
// this exemption (it is vetted before it is sent, with none).
const ownStatements = /^(START TRANSACTION|COMMIT|ROLLBACK|(RELEASE |ROLLBACK TO )?SAVEPOINT (typeorm_\d+|tenancy_fold_catalog)|SET TRANSACTION ISOLATION LEVEL (READ UNCOMMITTED|READ COMMITTED|REPEATABLE READ|SERIALIZABLE)|SELECT set_config\(\$1, \$2, true\)(, set_config\(\$\d+, \$\d+, true\))*|SELECT current_setting\('role'\) AS role)$/;

/**
 * Vets every statement sent on a bound connection (TypeORM's own and fragments users put in
 * builders: `Raw()`, `where('...')`, `select('...')`) the same way: a set_config() hidden
 * in a find's WHERE is refused like one sent with query(). `isBound` says whether the runner's
 * transaction carries a tenant binding now.
 */
export function rawSqlGuardSubscriber(isBound: (runner: QueryRunner) => boolean, tenantOf: (runner: QueryRunner) => unknown): EntitySubscriberInterface {
  const check = (sql: string, runner: QueryRunner, loaded: Parser) => {
    const problem = sqlProblem(sql, loaded);
    if (problem) throw refusal(sql, problem, { operation: 'query', tenant: tenantOf(runner) });
  };
  return {
    // Synchronous once the parser is loaded: no extra await on every statement.
    beforeQuery(event: BeforeQueryEvent): Promise<void> | void {
      const runner = event.queryRunner;
      if (!isBound(runner) || ownStatements.test(event.query)) return;
      if (parser) return check(event.query, runner, parser);
      return loadSqlParser().then((loaded) => check(event.query, runner, loaded));
    },
  };
}

/** The same check for statements that bypass TypeORM's query events (a builder's `stream()`). */
export async function assertStatementAllowed(sql: string, details: { operation: string; tenant?: unknown }): Promise<void> {
  if (ownStatements.test(sql)) return;
  return assertRawSqlAllowed(sql, details);
}
