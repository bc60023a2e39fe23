import { DataSource, type DataSourceOptions } from 'typeorm';
import { StorageUnavailableError, TenancyError } from '../errors.js';

/** One open DataSource of the pool, with what uses it right now. */
interface Entry<T> {
  readonly key: string;
  readonly ready: Promise<T>;
  value?: T;
  inFlight: number;
  lastUsed: number;
  idleTimer?: NodeJS.Timeout;
}

export interface DataSourcePoolOptions<T> {
  /** Opens the resource of a key (initializes its DataSource). Called once per key at a time. */
  open: (key: string) => Promise<T>;
  /** Closes it (destroys its DataSource). */
  close: (value: T) => Promise<void>;
  /** Most resources open at once; the least recently used idle one is closed first. Defaults to Infinity. */
  maxOpen?: number;
  /** Closes a resource unused for this long. Defaults to never. */
  idleTimeoutMs?: number;
  /** Names the kind of resource in errors ("tenant database", "shard"). */
  label: string;
}

/**
 * Lazily opened DataSources by key (a tenant for one database per tenant, a
 * shard name for shards): concurrent first uses share one initialization, at
 * most `maxOpen` are open (least recently used, idle ones closed first), idle
 * ones close after `idleTimeoutMs`, and a failed open is not cached, so the
 * next use retries. A key that cannot open fails only its own callers.
 */
export class DataSourcePool<T> {
  readonly #entries = new Map<string, Entry<T>>();
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
    const entry = this.#entry(key);
    entry.inFlight++;
    clearTimeout(entry.idleTimer);
    try {
      const value = await entry.ready;
      return await fn(value);
    } finally {
      entry.inFlight--;
      entry.lastUsed = Date.now();
      this.#scheduleIdle(entry);
    }
  }

  /** Closes the resource of one key (before dropping its database). */
  async evict(key: string): Promise<void> {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    clearTimeout(entry.idleTimer);
    const value = await entry.ready.catch(() => undefined);
    if (value !== undefined) await this.#options.close(value);
  }

  /** Closes everything. */
  async destroy(): Promise<void> {
    await Promise.all([...this.#entries.keys()].map((key) => this.evict(key)));
  }

  get openCount(): number {
    return this.#entries.size;
  }

  #entry(key: string): Entry<T> {
    const existing = this.#entries.get(key);
    if (existing) return existing;
    const ready = this.#options.open(key).catch((cause: unknown) => {
      this.#entries.delete(key); // not cached: the next use retries
      if (cause instanceof TenancyError) throw cause; // already says what is wrong (an unknown tenant, a bad shard name)
      throw new StorageUnavailableError(`The ${this.#options.label} "${key}" cannot be reached: ${cause instanceof Error ? cause.message : String(cause)}`, {
        operation: 'open',
        cause,
      });
    });
    const entry: Entry<T> = { key, ready, inFlight: 0, lastUsed: Date.now() };
    void ready.then((value) => (entry.value = value), () => undefined);
    this.#entries.set(key, entry);
    this.#evictOverflow();
    return entry;
  }

  #evictOverflow(): void {
    const max = this.#options.maxOpen ?? Infinity;
    if (this.#entries.size <= max) return;
    const idle = [...this.#entries.values()].filter((e) => e.inFlight === 0 && e.value !== undefined).sort((a, b) => a.lastUsed - b.lastUsed);
    for (const entry of idle.slice(0, this.#entries.size - max)) void this.evict(entry.key);
  }

  #scheduleIdle(entry: Entry<T>): void {
    const ms = this.#options.idleTimeoutMs;
    if (ms === undefined || entry.inFlight > 0) return;
    entry.idleTimer = setTimeout(() => void this.evict(entry.key), ms);
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
