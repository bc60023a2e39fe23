import type { MachineInfo } from '../lib/machine.js';

/** Order statistics of one measurement (the unit is in the field's name). */
export interface LatencyStats {
  n: number;
  p50: number;
  p95: number;
  mean: number;
}

export interface CatalogSize {
  pgClass: number;
  pgAttribute: number;
  pgNamespace: number;
  pgConstraint: number;
  /** pg_class, pg_attribute, pg_constraint, pg_depend, pg_type and pg_index with their indexes. */
  catalogMiB: number;
  databaseMiB: number;
}

export interface SizeResult {
  tenants: number;
  provisioning: {
    /** Tenants created in this step (from the previous size up to this one). */
    created: number;
    /** tenants.create(): the tenant row, its schema and tables, one transaction. */
    createMs: LatencyStats;
    /** The last 100 created: what creating one more costs at this catalog size. */
    lastHundredMs: LatencyStats;
    /** Seeding a tenant's rows (one transaction through its manager); not part of provisioning. */
    seedMs: LatencyStats;
    stepS: number;
  };
  /** The first read of each tenant in a fresh connection. */
  firstReadUs: LatencyStats;
  /** Point reads (findOneBy by id) of a random post of a random tenant, warm. */
  pointReadUs: LatencyStats;
  runMediansUs: number[];
  /** The reading backend's catalog caches after it read every tenant's schema. */
  backendCacheMiB: number;
  catalog: CatalogSize;
}

export interface MigrateRun {
  label: string;
  tenants: number;
  concurrency: number;
  totalS: number;
  perTenantMs: number;
  succeeded: number;
  failed: number;
  firstError?: string;
  /** Schemas that have the new column afterwards (the column change only). */
  verified?: number;
  betweenProgressMs: LatencyStats;
}

export interface ScaleResult {
  kind: 'schema-scale';
  quick: boolean;
  machine: MachineInfo;
  server: string;
  settings: Record<string, string>;
  shape: { authorsPerTenant: number; postsPerTenant: number };
  readPlan: { warmup: number; runs: number; iterations: number };
  sizes: SizeResult[];
  migrate: MigrateRun[];
  wholeRunS: number;
}
