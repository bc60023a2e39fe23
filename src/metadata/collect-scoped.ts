import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import { TenancyConfigError } from '../errors.js';
import type { ScopedEntity } from '../scoping/scope-registry.js';
import { isTenantEntityClass, scopedOptionsOf } from './tenant-marks.js';

/** The tenant entity, its key column and the scoped entities among built metadata. */
export interface CollectedEntities {
  tenantMetadata: EntityMetadata;
  keyColumn: ColumnMetadata;
  scoped: ScopedEntity[];
}

/** Finds the tenant entity and every scoped entity (with its tenant column) in `metadatas`. */
export function collectScopedEntities(metadatas: readonly EntityMetadata[]): CollectedEntities {
  const tenantMetadata = metadatas.find((m) => isTenantEntityClass(m.target));
  const keyColumn = tenantMetadata?.primaryColumns[0];
  if (!tenantMetadata || !keyColumn) throw new TenancyConfigError('The tenant entity has no metadata after initialize().');
  const scoped: ScopedEntity[] = [];
  for (const metadata of metadatas) {
    const options = metadata.inheritanceTree.map((c) => scopedOptionsOf(c)).find(Boolean);
    if (!options) continue;
    const column = metadata.findColumnWithPropertyName(options.property);
    if (!column) throw new TenancyConfigError(`Scoped entity ${metadata.name} has no ${options.property} column after initialize().`, { entity: metadata.name });
    scoped.push({ metadata, column });
  }
  return { tenantMetadata, keyColumn, scoped };
}
