import type { EntityManager, QueryRunner } from 'typeorm';
import { Broadcaster } from './deep-imports.js';

// SQLite drivers hand every caller the same QueryRunner object (BetterSqlite3Driver#createQueryRunner,
// typeorm 1.1.1), so a tenant operation cannot claim it: `runner.manager` and the events its
// Broadcaster raises (`manager: queryRunner.manager`) would change under a concurrent operation.
// A view is a per-operation identity over such a runner: every member reads and writes through
// to the runner (its connection and transaction state stay shared, as TypeORM has them), except
// `manager` and `broadcaster`, which belong to the view. test/canary asserts the runner members
// this relies on (no #private fields, Broadcaster(queryRunner), events built from queryRunner.manager).

const underlying = new WeakMap<object, QueryRunner>();

// Members that register the runner object itself with its driver (PostgresDriver#connectedQueryRunners,
// emptied on destroy by releasing each entry): they run on the runner, never on a view of it.
const ownIdentity = new Set<PropertyKey>(['connect', 'release', 'releasePostgresConnection']);

/** A per-operation view over `runner` with a `manager` (and event broadcaster) of its own. */
export function runnerView(runner: QueryRunner): QueryRunner {
  const base = underlying.get(runner) ?? runner;
  let manager: EntityManager | undefined;
  let broadcaster: Broadcaster | undefined;
  const view: QueryRunner = new Proxy(base, {
    get(target, property, receiver) {
      if (property === 'manager') return manager;
      if (property === 'broadcaster') return (broadcaster ??= new Broadcaster(view));
      const value: unknown = Reflect.get(target, property, receiver);
      return ownIdentity.has(property) && typeof value === 'function' ? value.bind(target) : value;
    },
    set(target, property, value) {
      if (property === 'manager') manager = value as EntityManager;
      else if (property === 'broadcaster') broadcaster = value as Broadcaster;
      else return Reflect.set(target, property, value);
      return true;
    },
  });
  underlying.set(view, base);
  return view;
}

/** The runner a view was made over (the runner itself otherwise): the one connection and transaction. */
export function underlyingRunner(runner: QueryRunner): QueryRunner {
  return underlying.get(runner) ?? runner;
}
