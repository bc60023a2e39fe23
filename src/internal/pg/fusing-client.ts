import { UnsafeQueryError } from '../../errors.js';
import { setConfigSql } from '../../postgres/policy-sql.js';

// One round trip per bound statement (issue 14). PostgreSQL runs everything sent before one
// Sync as one implicit transaction and ends it at the Sync, so a transaction-local
// `set_config(..., true)` sent in front of a statement, before the same Sync, binds that
// statement and nothing after it. This file holds every node-postgres internal that relies
// on: a `pg.Client` subclass (pg-pool builds it from `extra.Client`) whose `query()` hands
// statements to a `Query` subclass that writes the binding's Parse/Bind/Execute before the
// statement's own messages and skips the binding's rows and completion. Checked against
// pg 8.23 and pg-protocol 1.10; test/canary/pg-fusing.test.ts asserts each member used.

/** `[name, value]` pairs of a transaction-local binding, in the order they are set. */
export type BindingSettings = ReadonlyArray<readonly [string, string]>;

/** The pg-protocol connection members the fused query writes with (`Query#prepare` uses the same). */
interface PgConnection {
  parse(message: { text: string; name?: string; types?: unknown[] }): void;
  bind(message: { portal?: string; statement?: string; values?: unknown[] }): void;
  execute(message: { portal?: string; rows?: number }): void;
  parsedStatements: Record<string, string>;
}

/** The pg `Query` members overridden or read. */
interface PgQuery {
  text?: string;
  name?: string;
  rows?: number;
  callback?: (error: Error | null, result?: unknown) => void;
  submit(connection: PgConnection): Error | null;
  prepare(connection: PgConnection): void;
  handleRowDescription(message: unknown): void;
  handleDataRow(message: unknown): void;
  handleCommandComplete(message: unknown, connection: PgConnection): void;
  handleError(error: Error, connection: PgConnection): void;
  handleReadyForQuery(connection: PgConnection): void;
}
type PgQueryClass = new (config: unknown, values?: unknown, callback?: unknown) => PgQuery;

/** The pg `Client` members used: `query`, `pipeline` (pg ≥ 8.22), `getTransactionStatus` (pg ≥ 8.21), `end`. */
export interface PgClientLike {
  query(config: unknown, values?: unknown, callback?: unknown): unknown;
  pipeline?: boolean;
  getTransactionStatus?(): 'I' | 'T' | 'E' | null;
  end(): Promise<void> | void;
}
export type PgClientClass = new (...args: any[]) => PgClientLike;

/** The node-postgres module TypeORM loaded (`driver.postgres`): its `Client` and `Query`. */
export interface PgModule {
  Client: PgClientClass;
  Query?: PgQueryClass;
}

/** What a fusing client binds its next statements with. */
interface FusionState {
  /** Autocommit statements of a bound operation: each one fused with these settings. */
  autocommit?: { settings: BindingSettings; key: string };
  /** The next `START TRANSACTION` is fused with these (a bound transaction's first round trip). */
  armed?: { settings: BindingSettings; key: string };
  /** The key of the last armed `START TRANSACTION` that went out; its binding goes with the transaction's first statement. */
  started?: string;
  /** The binding of the open transaction, fused into its first statement (after any SET TRANSACTION). */
  pendingTx?: BindingSettings;
  /** Opt-in: the binding as a named prepared statement. */
  prepared: boolean;
  /** Suffix of the prepared binding's name; a new one after a failure left its state unknown. */
  generation: number;
  /** The names of statements sent as named prepared statements when they go unbound. */
  names?: StatementNames;
}

/** Gives the name a statement text is sent under, if any (prepared-statements.ts). */
export interface StatementNames {
  nameOf(text: string): string | undefined;
  retire(text: string): void;
}

/** Errors of a named statement that the next use on another connection would repeat: the text goes unnamed (and this statement again, unnamed). */
const STALE_STATEMENT = new Set([
  '0A000', // cached plan must not change result type
  '26000', // prepared statement does not exist (a pooler gave the client another server connection)
  '42P05', // prepared statement already exists (the same)
]);

/** Options of `fusingClientClass`. */
export interface FusingClientOptions {
  preparedBinding: boolean;
  names?: StatementNames;
}

const STATE = Symbol('typeorm-tenancy fusion');
type Fusing = PgClientLike & { [STATE]: FusionState };

function stateOf(client: object | undefined): FusionState | undefined {
  return client ? (client as Partial<Fusing>)[STATE] : undefined;
}

/**
 * True when `client` can fuse a binding with a statement: built by `fusingClientClass`, not
 * pipelined (`pipeline: true` sends statements without waiting, so the status checked after each
 * one is not its own), and able to report the transaction status a fused statement leaves.
 */
export function canFuse(client: object | undefined): boolean {
  const c = client as Partial<Fusing> | undefined;
  return !!c && !!c[STATE] && c.pipeline !== true && typeof c.getTransactionStatus === 'function';
}

/** Binds every autocommit statement `client` sends until cleared (`undefined`). */
export function setAutocommitBinding(client: object, binding: { settings: BindingSettings; key: string } | undefined): void {
  const state = stateOf(client);
  if (state) state.autocommit = binding;
}

/** The key of the autocommit binding in force on `client`, if any. */
export function autocommitBindingOf(client: object | undefined): string | undefined {
  return stateOf(client)?.autocommit?.key;
}

/** Fuses `settings` into the next `START TRANSACTION` `client` sends. */
export function armTransactionBinding(client: object, settings: BindingSettings, key: string): void {
  const state = stateOf(client);
  if (!state) return;
  state.armed = { settings, key };
  state.started = undefined;
  state.pendingTx = undefined;
}

/** The key the last armed `START TRANSACTION` was bound to, when it ran with its binding; clears the arming. */
export function takeTransactionBinding(client: object | undefined): string | undefined {
  const state = stateOf(client);
  if (!state) return undefined;
  const started = state.started;
  state.started = undefined;
  state.armed = undefined;
  return started;
}

const START = /^\s*START TRANSACTION\s*$/;
// Must be the first statements of a transaction (SET TRANSACTION), or end it: never carry the binding.
const BEFORE_FIRST = /^\s*SET TRANSACTION\b/i;
const ENDS = /^\s*(COMMIT|ROLLBACK)\s*$/i;

/** Thrown (through the statement) when a fused statement left a transaction open: the connection is ended. */
function leftOpen(status: string | null | undefined): Error {
  return new UnsafeQueryError(
    `A statement fused with its tenant binding left the connection in transaction state ${String(status)}: the binding could outlive it. ` +
      'The connection was closed. Open transactions with manager.transaction(), not with raw SQL.',
    { operation: 'query' },
  );
}

/** 'autocommit': fused only on an idle connection, which must be idle after; 'transaction': the first statement of a bound transaction. */
type FusionMode = 'autocommit' | 'transaction';
type FusedQueryClass = new (client: Fusing, settings: BindingSettings, mode: FusionMode, config: unknown, values: unknown, callback: unknown) => PgQuery;

function fusedQueryClass(Query: PgQueryClass): FusedQueryClass {
  return class FusedQuery extends Query {
    readonly #client: Fusing;
    readonly #settings: BindingSettings;
    readonly #mode: FusionMode;
    /** Set when sent fused; false once the binding's CommandComplete arrived. */
    #fused = false;
    #bindingOpen = false;
    #bindingName = '';

    constructor(client: Fusing, settings: BindingSettings, mode: FusionMode, config: unknown, values: unknown, callback: unknown) {
      super(config, values, callback);
      this.#client = client;
      this.#settings = settings;
      this.#mode = mode;
    }

    // Decided when the statement goes out, not when it was queued: inside a transaction the
    // binding is the transaction's (transaction-binding.ts), and the statement goes as it is.
    override submit(connection: PgConnection): Error | null {
      const status = this.#client.getTransactionStatus?.();
      this.#fused = status === (this.#mode === 'autocommit' ? 'I' : 'T');
      if (!this.#fused) return super.submit(connection);
      // Query#submit corks the socket around prepare() when the statement needs the extended
      // protocol; a fused one always does (its binding is), so the flag forces that path.
      (this as { queryMode?: string }).queryMode = 'extended';
      return super.submit(connection);
    }

    override prepare(connection: PgConnection): void {
      if (this.#fused) {
        const state = this.#client[STATE];
        const text = setConfigSql(this.#settings.length);
        let name = '';
        if (state.prepared) {
          name = `tenancy_binding_${this.#settings.length}_${state.generation}`;
          this.#bindingName = name;
        }
        if (!name || connection.parsedStatements[name] !== text) connection.parse({ text, name, types: [] });
        connection.bind({ portal: '', statement: name, values: this.#settings.flat() });
        connection.execute({ portal: '', rows: 0 });
        this.#bindingOpen = true;
      }
      // The statement's own Parse/Bind/Describe/Execute and the one Sync.
      super.prepare(connection);
    }

    override handleRowDescription(message: unknown): void {
      if (!this.#bindingOpen) super.handleRowDescription(message);
    }

    override handleDataRow(message: unknown): void {
      if (!this.#bindingOpen) super.handleDataRow(message);
    }

    override handleCommandComplete(message: unknown, connection: PgConnection): void {
      if (!this.#bindingOpen) return super.handleCommandComplete(message, connection);
      this.#bindingOpen = false;
      // The binding ran, so its Parse did: a named one need not be sent again on this connection.
      if (this.#bindingName) connection.parsedStatements[this.#bindingName] = setConfigSql(this.#settings.length);
    }

    override handleError(error: Error, connection: PgConnection): void {
      // A failure before the binding completed leaves a prepared binding's state unknown: use a new name.
      if (this.#bindingOpen && this.#bindingName) this.#client[STATE].generation++;
      this.#bindingOpen = false;
      super.handleError(error, connection);
    }

    override handleReadyForQuery(connection: PgConnection): void {
      if (this.#fused && this.#mode === 'autocommit') {
        const status = this.#client.getTransactionStatus?.();
        if (status !== 'I') {
          // A statement that opened a transaction (a raw BEGIN) would keep the binding past the Sync.
          void Promise.resolve(this.#client.end()).catch(() => undefined);
          return super.handleError(leftOpen(status), connection);
        }
      }
      super.handleReadyForQuery(connection);
    }
  };
}

function textOf(config: unknown): string | undefined {
  if (typeof config === 'string') return config;
  if (config && typeof config === 'object' && typeof (config as { text?: unknown }).text === 'string') return (config as { text: string }).text;
  return undefined;
}

/**
 * A `pg.Client` subclass of `Base` (the user's `extra.Client`, or pg's) that fuses tenant
 * bindings with statements. Without a binding set on it, it is `Base` unchanged but for the
 * statements `options.names` names (`preparedReferenceChecks`), sent as named prepared statements.
 */
export function fusingClientClass(pg: PgModule, Base: PgClientClass, options: FusingClientOptions): PgClientClass {
  const Query = pg.Query ?? (pg.Client as unknown as { Query?: PgQueryClass }).Query;
  if (!Query) return Base;
  const FusedQuery = fusedQueryClass(Query);
  return class FusingClient extends Base {
    readonly [STATE]: FusionState = { prepared: options.preparedBinding, generation: 0, names: options.names };

    override query(config: unknown, values?: unknown, callback?: unknown): unknown {
      const state = this[STATE];
      const text = textOf(config) ?? '';
      let settings: BindingSettings | undefined;
      let mode: FusionMode = 'autocommit';
      if (START.test(text) && canFuse(this)) {
        // START TRANSACTION goes as it is (a SET TRANSACTION may follow it, before any other statement);
        // an armed one's binding goes with the transaction's first statement.
        state.pendingTx = state.armed?.settings;
        state.started = state.armed?.key;
        state.armed = undefined;
        return super.query(config, values, callback);
      }
      if (state.pendingTx && ENDS.test(text)) state.pendingTx = undefined;
      if (state.pendingTx && !BEFORE_FIRST.test(text)) {
        settings = state.pendingTx;
        state.pendingTx = undefined;
        mode = 'transaction';
      } else if (state.autocommit?.settings.length) {
        settings = state.autocommit.settings;
      }
      if (!settings) {
        // A registered text with its values (TypeORM's call: no callback) goes as a named prepared
        // statement; not pipelined, where two Parses of one name could be in flight at once.
        const named = typeof config === 'string' && (values === undefined || Array.isArray(values)) && callback === undefined && this.pipeline !== true;
        const name = named ? state.names?.nameOf(config) : undefined;
        if (!name) return super.query(config, values, callback);
        return (super.query({ name, text: config, values }) as Promise<unknown>).catch((error: unknown) => {
          if (!STALE_STATEMENT.has((error as { code?: string }).code ?? '')) throw error;
          state.names!.retire(config as string);
          // Back on an idle connection, the failed statement's implicit transaction was rolled back whole:
          // it is sent again unnamed, so the caller never sees the pooler or the stale plan. Inside a
          // transaction (a raw BEGIN) the failure aborted it: it stands.
          if (this.getTransactionStatus?.() !== 'I') throw error;
          return super.query(config, values);
        });
      }
      if (!canFuse(this)) return super.query(config, values, callback);
      const custom = !!config && typeof (config as { submit?: unknown }).submit === 'function';
      // Several statements without parameters need the simple protocol, which cannot carry the binding before one Sync.
      const multi = text.includes(';') && !(Array.isArray(values) && values.length) && !(config as { values?: unknown[] }).values?.length;
      const unfusable = custom || multi || !!(config as { rows?: unknown }).rows || !!(config as { name?: unknown }).name;
      if (unfusable && mode === 'transaction') {
        // A cursor or stream opening a bound transaction: the binding goes just before it, in the same
        // transaction (a failure aborts the transaction, so the cursor fails too).
        super.query(setConfigSql(settings.length), settings.flat(), () => undefined);
        return super.query(config, values, callback);
      }
      if (unfusable) {
        // A cursor, a stream or a named statement cannot carry the binding: refused, never sent unbound.
        const error = new UnsafeQueryError(
          'A cursor, stream or named prepared statement cannot run as a bound autocommit statement. Run it inside manager.transaction().',
          { operation: 'query' },
        );
        if (typeof callback === 'function') return void process.nextTick(() => (callback as (e: Error) => void)(error));
        if (typeof values === 'function') return void process.nextTick(() => (values as (e: Error) => void)(error));
        return Promise.reject(error);
      }
      const settled = typeof values === 'function' || typeof callback === 'function';
      let resolve!: (value: unknown) => void;
      let reject!: (error: Error) => void;
      const result = settled ? undefined : new Promise((res, rej) => ((resolve = res), (reject = rej)));
      const query = new FusedQuery(this as unknown as Fusing, settings, mode, config, values, callback);
      if (!query.callback) query.callback = (error, res) => (error ? reject(error) : resolve(res));
      super.query(query);
      return result;
    }
  };
}
