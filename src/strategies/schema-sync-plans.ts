import type { QueryRunner } from 'typeorm';
import type { TenantSchemaBuilder } from '../internal/typeorm/tenant-schema-builder.js';
import { quoteIdentifier } from '../postgres/policy-sql.js';
import { schemaFingerprint } from '../postgres/schema-fingerprint.js';

/** States remembered, at most; the oldest is forgotten first. */
const MAX_PLANS = 64;

/**
 * Synchronizes tenant schemas, planning once per schema state. TypeORM reads a schema's
 * tables through information_schema, whose views scan the whole catalog: about 0.2 s per
 * schema at 300 schemas and growing with every schema added, so `migrateAll()` over
 * thousands of schemas would take hours. Schemas in the same state need the same DDL: each
 * schema's state is read as a fingerprint (catalog indexes only, see `schemaFingerprint`),
 * the first schema in a state gets TypeORM's plan (an empty one when it is up to date), and
 * every other schema in that state replays it under its own `search_path` (see `replayable`).
 * A plan that cannot be replayed is not: such schemas are planned one by one.
 */
export class SchemaSyncPlans {
  /** fingerprint -> the plan (statements), or `undefined` when it cannot be replayed. */
  readonly #plans = new Map<string, Promise<string[] | undefined>>();

  /**
   * Brings `schema` up to date on `runner`, in the caller's transaction, whose
   * `search_path` starts with that schema. `tables` are the tables the builder syncs.
   */
  async sync(runner: QueryRunner, schema: string, tables: readonly string[], builder: () => TenantSchemaBuilder): Promise<void> {
    const fingerprint = await schemaFingerprint(runner, schema, tables);
    const known = this.#plans.get(fingerprint);
    const replay = known && (await known.catch(() => undefined));
    if (replay) {
      if (replay.length) await runner.query(replay.join(';\n'));
      return;
    }
    if (known) return builder().syncOn(runner); // this state's plan names its schema: plan and apply here
    const planned = builder().syncOn(runner, true);
    this.#remember(
      fingerprint,
      planned.then((plan) => plan && replayable(plan, schema)),
    );
    const plan = await planned.catch((error: unknown) => {
      this.#plans.delete(fingerprint); // another schema in this state plans for itself
      throw error;
    });
    if (!plan) return builder().syncOn(runner);
    if (plan.length) await runner.query(plan.join(';\n'));
  }

  #remember(fingerprint: string, plan: Promise<string[] | undefined>): void {
    plan.catch(() => undefined);
    this.#plans.set(fingerprint, plan);
    if (this.#plans.size > MAX_PLANS) this.#plans.delete(this.#plans.keys().next().value!);
  }
}

/**
 * The plan with `"<schema>".` taken off its table names, so it runs in whichever schema leads
 * `search_path` (TypeORM qualifies the tables it alters; the names it derives for keys and
 * indexes come from the table name alone). `undefined` when the schema is still named
 * elsewhere in it (a literal, an identifier containing it): that plan is this schema's only.
 */
export function replayable(plan: readonly string[], schema: string): string[] | undefined {
  const prefix = `${quoteIdentifier(schema)}.`;
  const statements = plan.map((sql) => sql.split(prefix).join(''));
  return statements.some((sql) => sql.includes(schema)) ? undefined : statements;
}
