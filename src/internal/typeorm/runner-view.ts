import type { EntityManager, QueryRunner } from 'typeorm';
import { Broadcaster } from './deep-imports.js';

// SQLite drivers hand every caller the same QueryRunner object (BetterSqlite3Driver#createQueryRunner,
// typeorm 1.1.1), so a tenant operation cannot claim it: `runner.manager` and the events its
// Broadcaster raises (`manager: queryRunner.manager`) would change under a concurrent operation.
// A view is a per-operation identity over such a runner: every member reads and writes through
// to the runner (its connection and transaction state stay shared, as TypeORM has them), except
// `manager` and `broadcaster`, which belong to the view. test/canary asserts what this relies on:
// runner state lives in own data properties set by the constructor, and Broadcaster(queryRunner)
// builds events from `queryRunner.manager`.
//
// Built without a Proxy (whose trap every property read of TypeORM would pay): one prototype per
// runner forwards its own properties to it with accessors, and each view adds two fields.

const underlying = new WeakMap<object, QueryRunner>();
const prototypes = new WeakMap<QueryRunner, object>();

// Members that register the runner object itself with its driver (PostgresDriver#connectedQueryRunners,
// emptied on destroy by releasing each entry): they run on the runner, never on a view of it.
const ownIdentity = ['connect', 'release', 'releasePostgresConnection'] as const;
const viewOwn = new Set<PropertyKey>(['manager', 'broadcaster']);
// Set once by the runner's constructor and never assigned again (test/canary checks TypeORM's code).
const constantMembers = new Set<PropertyKey>(['driver', 'dataSource', 'stmtCache', 'cacheSize']);

function viewPrototype(base: QueryRunner): object {
  let proto = prototypes.get(base);
  if (proto) return proto;
  proto = Object.create(base) as object;
  const target = base as unknown as Record<PropertyKey, unknown>;
  for (const key of Reflect.ownKeys(base)) {
    if (viewOwn.has(key)) continue;
    // What the constructor set for good (the driver, the DataSource, the statement cache) is read
    // as a value, as on the runner itself: TypeORM reads these on every statement.
    if (constantMembers.has(key)) {
      Object.defineProperty(proto, key, { value: target[key], enumerable: true });
      continue;
    }
    Object.defineProperty(proto, key, {
      get: () => target[key],
      set: (value: unknown) => {
        target[key] = value;
      },
      enumerable: true,
    });
  }
  for (const name of ownIdentity) {
    const method = target[name];
    if (typeof method === 'function') Object.defineProperty(proto, name, { value: (...args: unknown[]) => (method as (...a: unknown[]) => unknown).apply(base, args) });
  }
  prototypes.set(base, proto);
  return proto;
}

/** A per-operation view over `runner` with a `manager` (and event broadcaster) of its own. */
export function runnerView(runner: QueryRunner): QueryRunner {
  const base = underlying.get(runner) ?? runner;
  const view = Object.create(viewPrototype(base)) as QueryRunner & { manager: EntityManager | undefined; broadcaster: Broadcaster };
  view.manager = undefined as unknown as EntityManager;
  view.broadcaster = new Broadcaster(view);
  underlying.set(view, base);
  return view;
}

/** The runner a view was made over (the runner itself otherwise): the one connection and transaction. */
export function underlyingRunner(runner: QueryRunner): QueryRunner {
  return underlying.get(runner) ?? runner;
}
