import type { DataSource, EntityManager, EntityTarget, ObjectLiteral } from 'typeorm';
import type { TenantId } from '../scoping/tenant-key.js';

/** The two tenants the probes use: `a` probes, `b` is the other tenant whose rows must stay invisible and unchanged. */
export type TenantLabel = 'a' | 'b';

/**
 * What the probes need of a tenancy: a manager per tenant. A `Tenancy` fits; so does
 * any object with a `manager(tenant)` (a wrapper of your own, or a deliberately leaky fake
 * in a test of the test). When it is not a `Tenancy`, pass `dataSource` too.
 */
export interface TenancyUnderTest {
  manager(tenant: unknown): EntityManager;
  readonly dataSource?: DataSource;
}

/** Options of `probeTenantIsolation()` and `assertTenantIsolation()`. */
export interface ProbeTenantIsolationOptions {
  /** The `Tenancy` whose managers are probed (`tenancy.manager(tenant)`). */
  tenancy: TenancyUnderTest;
  /** The initialized DataSource. Defaults to `tenancy.dataSource`. */
  dataSource?: DataSource;
  /**
   * The tenant-scoped entities to probe. Defaults to every `@TenantScoped()` entity.
   * Seeding still covers every scoped entity, so required relations can be filled.
   */
  entities?: EntityTarget<ObjectLiteral>[];
  /**
   * Writes each tenant's rows, called once per tenant with that tenant's manager
   * (`tenancy.manager(tenantId)`). Write at least one row of every entity to probe
   * (two give the probes a separate row for cross-tenant references). Rows of shared
   * entities it writes are yours to remove. Defaults to minimal rows built from the
   * metadata: two per tenant and entity.
   */
  seed?: (em: EntityManager, tenant: TenantLabel, tenantId: TenantId) => Promise<void>;
  /**
   * Two existing tenant ids to probe with, instead of two tenants created for the run
   * (use this when your tenant table has columns the probes cannot fill). Only rows
   * the run writes are removed afterwards.
   */
  tenants?: readonly [unknown, unknown];
}

/** One probe: a read or write of tenant `a` aimed at tenant `b`'s rows. */
export interface IsolationProbe {
  /** What was tried, e.g. `findOneBy(the other tenant's id)`. */
  name: string;
  /** The entity probed (for relation probes: the entity the relation starts from). */
  entity: string;
  /** `true` when tenant `b`'s rows stayed invisible and unchanged. */
  passed: boolean;
  /** What happened: the rows seen, the error thrown, the row that changed. */
  detail: string;
}

/** An entity, or one probe of it, that could not run, with the reason. */
export interface NotProbed {
  entity: string;
  probe?: string;
  reason: string;
}

/** What `probeTenantIsolation()` found. */
export interface IsolationReport {
  /** `true` when at least one probe ran and every probe passed. */
  ok: boolean;
  /** The two tenant ids used (`a` probes `b`). */
  tenants: readonly [TenantId, TenantId];
  probes: IsolationProbe[];
  /** Entities and probes that could not run (nothing to fill a required column with, no rows seeded, ...). */
  notProbed: NotProbed[];
  /** Problems removing what the run wrote; empty when everything was removed. */
  cleanup: string[];
}
