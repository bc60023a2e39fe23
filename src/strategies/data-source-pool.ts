import { DataSource, type DataSourceOptions } from 'typeorm';
import { StorageUnavailableError, TenancyError } from '../errors.js';
import { isConnectionFailure } from './connection-failure.js';

/** One DataSource of the pool, from the start of its opening until its close has finished. */
interface Entry<T> {
  readonly key: string;
  readonly ready: Promise<T>;
  value?: T;
  inFlight: number;
  idleTimer?: NodeJS.Timeout;
  /** Out of the pool (evicted, or its database failed): closed once its last operation ends. */
  retired?: boolean;
}

export interface DataSourcePoolOptions<T> {
  /** Opens the resource of a key (initializes its DataSource). Called once per key at a time. */
  open: (key: string) => Promise<T>;
  /** Closes it (destroys its DataSource). */
  close: (value: T) => Promise<void>;
  /** Most resources open at once, opening and closing ones included. Defaults to Infinity. */
  maxOpen?: number;
  /** Closes a resource unused for this long. Defaults to never. */
  idleTimeoutMs?: number;
  /** Names the kind of resource in errors ("tenant database", "shard"). */
  label: string;
}

/**
 * Lazily opened DataSources by key (a tenant for one database per tenant, a shard
 * name for shards). Concurrent first uses share one initialization. At most `maxOpen`
 * exist at any time, counting those being opened and closed: a use that needs another
 * one closes the least recently used idle one first (and waits for its close), or,
 * when every open one is in use, waits for one to become idle. Idle ones close after
 * `idleTimeoutMs`. A failed open is not cached, so the next use retries. A connection
 * failure during a use is a `StorageUnavailableError`, and the DataSource is replaced
 * on the next use. A key that cannot be reached fails only its own callers.
 *
 * Hand-written rather than lru-cache: an entry must not be evicted while an operation
 * (a transaction) runs on it, and a full pool must wait for a slot instead of growing.
 * A use nested in another use of a different key needs `maxOpen` of at least the depth.
 */
export class DataSourcePool<T> {
  /** Live entries in least recently used order (a use moves its entry to the end). */
  readonly #entries = new Map<string, Entry<T>>();
  /** Slots held outside `#entries`: retired entries not closed yet, reserved slots. */
  #elsewhere = 0;
  readonly #waiters: Array<() => void> = [];
  readonly #options: DataSourcePoolOptions<T>;

  constructor(options: DataSourcePoolOptions<T>) {
    this.#options = options;
  }

  /** The open resource of `key`, if it is open now. */
  peek(key: string): T | undefined {
    return this.#entries.get(key)?.value;
  }

  /** Runs `fn` with the resource of `key`, opening it first if needed; it is not closed while in use. */
  async use<R>(key: string, fn: (value: T) => Promise<R>): Promise<R> {
    const entry = await this.#acquire(key);
    try {
      const value = await entry.ready;
      return await fn(value);
    } catch (error) {
      if (error instanceof TenancyError || !isConnectionFailure(error)) throw error;
      // Its database went away after it opened: the next use starts over with a new DataSource.
      this.#retire(entry);
      throw new StorageUnavailableError(`The ${this.#options.label} "${key}" cannot be reached: ${error instanceof Error ? error.message : String(error)}`, {
        operation: 'use',
        cause: error,
      });
    } finally {
      this.#release(entry);
    }
  }

  /** Runs `fn` holding one slot of `maxOpen`, for a DataSource opened outside the pool (a tenant's database being built). */
  async withSlot<R>(fn: () => Promise<R>): Promise<R> {
    while (await this.#reserveSlot()) {
      // the pool changed while this waited: look again
    }
    this.#elsewhere++;
    try {
      return await fn();
    } finally {
      this.#elsewhere--;
      this.#wake();
    }
  }

  /** Closes the resource of one key (before dropping its database), once its operations end. */
  async evict(key: string): Promise<void> {
    const entry = this.#entries.get(key);
    if (!entry) return;
    await this.#retire(entry);
  }

  /** Closes everything (each once its operations end). */
  async destroy(): Promise<void> {
    await Promise.all([...this.#entries.values()].map((entry) => this.#retire(entry)));
  }

  /** DataSources that exist now: open, opening or closing. */
  get openCount(): number {
    return this.#entries.size + this.#elsewhere;
  }

  async #acquire(key: string): Promise<Entry<T>> {
    for (;;) {
      const existing = this.#entries.get(key);
      if (existing) {
        existing.inFlight++;
        clearTimeout(existing.idleTimer);
        this.#entries.delete(key); // most recently used goes last
        this.#entries.set(key, existing);
        return existing;
      }
      // Checked synchronously when there is room: concurrent first uses must find this entry.
      if (this.openCount >= (this.#options.maxOpen ?? Infinity) && (await this.#reserveSlot())) continue; // the key may have been opened meanwhile
      const entry = this.#open(key);
      entry.inFlight++;
      return entry;
    }
  }

  /**
   * Makes room for one more DataSource: at once when there is room (returns false), else
   * by closing the least recently used idle one or waiting for one to go idle (returns
   * true: the caller looks again, as the pool changed meanwhile).
   */
  async #reserveSlot(): Promise<boolean> {
    const max = this.#options.maxOpen ?? Infinity;
    if (this.openCount < max) return false;
    const idle = [...this.#entries.values()].find((e) => e.inFlight === 0);
    if (idle) await this.#retire(idle);
    else await new Promise<void>((resolve) => this.#waiters.push(resolve));
    return true;
  }

  #open(key: string): Entry<T> {
    const ready = this.#options.open(key).catch((cause: unknown) => {
      // Not cached: the next use retries.
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
      this.#wake();
      if (cause instanceof TenancyError) throw cause; // already says what is wrong (an unknown tenant, a bad shard name)
      throw new StorageUnavailableError(`The ${this.#options.label} "${key}" cannot be reached: ${cause instanceof Error ? cause.message : String(cause)}`, {
        operation: 'open',
        cause,
      });
    });
    const entry: Entry<T> = { key, ready, inFlight: 0 };
    void ready.then((value) => (entry.value = value), () => undefined);
    this.#entries.set(key, entry);
    return entry;
  }

  #release(entry: Entry<T>): void {
    entry.inFlight--;
    if (entry.inFlight > 0) return;
    if (entry.retired) void this.#close(entry);
    else {
      this.#scheduleIdle(entry);
      this.#wake();
    }
  }

  /** Takes the entry out of the pool; it closes now if idle, else when its last operation ends. */
  #retire(entry: Entry<T>): Promise<void> {
    if (entry.retired) return Promise.resolve();
    entry.retired = true;
    clearTimeout(entry.idleTimer);
    if (this.#entries.get(entry.key) === entry) this.#entries.delete(entry.key);
    this.#elsewhere++; // still holds its slot until closed
    return entry.inFlight === 0 ? this.#close(entry) : Promise.resolve();
  }

  async #close(entry: Entry<T>): Promise<void> {
    try {
      const value = await entry.ready.catch(() => undefined);
      if (value !== undefined) await this.#options.close(value).catch(() => undefined);
    } finally {
      this.#elsewhere--;
      this.#wake();
    }
  }

  /** Lets the first waiter look again (it closes an idle entry or takes a free slot). */
  #wake(): void {
    this.#waiters.shift()?.();
  }

  #scheduleIdle(entry: Entry<T>): void {
    const ms = this.#options.idleTimeoutMs;
    if (ms === undefined || entry.inFlight > 0) return;
    entry.idleTimer = setTimeout(() => void this.#retire(entry), ms);
    entry.idleTimer.unref();
  }
}

/**
 * A DataSource for a pool entry: the main DataSource's entities with the given
 * connection options. Subscribers, naming strategy and logging also come from the
 * main DataSource unless the options set their own, so an audit subscriber or a
 * query logger sees every tenant's operations, and table names agree.
 */
export function derivedDataSource(main: DataSource, options: DataSourceOptions): DataSource {
  const { subscribers, namingStrategy, logger, logging } = main.options;
  return new DataSource({ subscribers, namingStrategy, logger, logging, ...options, entities: main.options.entities ?? [] } as DataSourceOptions);
}
