import type { DataSource, EntityTarget, ObjectLiteral } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import { TenancyConfigError } from '../errors.js';
import { isTenantEntityClass, scopedOptionsOf } from '../metadata/tenant-marks.js';
import { ScopeRegistry } from '../scoping/scope-registry.js';
import type { TenancyUnderTest } from './types.js';

/** A tenant-scoped entity and its tenant column. */
export interface ScopedFacts {
  readonly metadata: EntityMetadata;
  readonly column: ColumnMetadata;
}

/** What the probes know about the schema, read from the Tenancy's metadata. */
export interface SchemaFacts {
  readonly dataSource: DataSource;
  readonly tenantMetadata: EntityMetadata;
  /** Every tenant-scoped entity (seeding covers them all). */
  readonly scoped: ReadonlyMap<EntityMetadata, ScopedFacts>;
  /** The scoped entities to probe. */
  readonly probed: readonly ScopedFacts[];
  /** PostgreSQL row-level security: the setting raw checks bind to see a tenant's rows. */
  readonly rlsSetting: string | undefined;
}

function registryOf(tenancy: TenancyUnderTest): ScopeRegistry | undefined {
  // A Tenancy exposes its registry (@internal); a stand-in may carry one too, or none.
  try {
    const registry = (tenancy as { scopeRegistry?: unknown }).scopeRegistry;
    return registry instanceof ScopeRegistry ? registry : undefined;
  } catch {
    return undefined;
  }
}

/** The scoped entities of a DataSource from the decorator marks, for stand-ins without a registry. */
function scopedFromMarks(dataSource: DataSource): ScopedFacts[] {
  const found: ScopedFacts[] = [];
  for (const metadata of dataSource.entityMetadatas) {
    const options = metadata.inheritanceTree.map((c) => scopedOptionsOf(c)).find(Boolean);
    const column = options && metadata.findColumnWithPropertyName(options.property);
    if (column) found.push({ metadata, column });
  }
  return found;
}

export function readSchema(tenancy: TenancyUnderTest, dataSource: DataSource, entities: EntityTarget<ObjectLiteral>[] | undefined): SchemaFacts {
  if (!dataSource.isInitialized) {
    throw new TenancyConfigError('probeTenantIsolation() needs an initialized DataSource. Await dataSource.initialize() first.', {
      operation: 'probeTenantIsolation',
    });
  }
  const options = (tenancy as { options?: { strategy?: string; shards?: unknown } }).options;
  if ((options?.strategy && options.strategy !== 'row') || options?.shards) {
    throw new TenancyConfigError(
      `probeTenantIsolation() probes the row strategy (one set of tables with a tenant column), not strategy '${options.strategy ?? 'row'}'${options.shards ? ' with shards' : ''}.`,
      { operation: 'probeTenantIsolation' },
    );
  }
  const registry = registryOf(tenancy);
  const all = registry ? [...registry.scopedEntities].map((s) => ({ metadata: s.metadata, column: s.column })) : scopedFromMarks(dataSource);
  const tenantMetadata = registry
    ? registry.tenantKey.column.entityMetadata
    : dataSource.entityMetadatas.find((m) => isTenantEntityClass(m.target));
  if (!tenantMetadata) {
    throw new TenancyConfigError('probeTenantIsolation() found no @TenantEntity() among the DataSource entities.', { operation: 'probeTenantIsolation' });
  }
  const scoped = new Map(all.map((s) => [s.metadata, s]));
  let probed = all;
  if (entities) {
    probed = entities.map((target) => {
      const metadata = dataSource.getMetadata(target);
      const facts = scoped.get(metadata);
      if (!facts) {
        throw new TenancyConfigError(`probeTenantIsolation(): ${metadata.name} is not @TenantScoped(); list tenant-scoped entities only.`, {
          entity: metadata.name,
          operation: 'probeTenantIsolation',
        });
      }
      return facts;
    });
  }
  return { dataSource, tenantMetadata, scoped, probed, rlsSetting: registry?.rls?.setting };
}
