import { type DataSource, getMetadataArgsStorage } from 'typeorm';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { MetadataArgsStorage } from 'typeorm/metadata-args/MetadataArgsStorage.js';
import { buildEntityMetadatas } from './metadata-build.js';

// The entity metadata of a DataSource without connecting it (checked against typeorm 1.1.1,
// test/canary): what DataSource#buildMetadatas → ConnectionMetadataBuilder#buildEntityMetadatas
// builds at initialize(), for entity classes and EntitySchemas. It only needs the driver object,
// which the DataSource constructor creates without connecting.

/**
 * Builds the entity metadata of `dataSource` as initialize() would, from `storage` (a Tenancy's
 * copy of the decorator args; defaults to the global ones), without a connection and without
 * touching the DataSource. Entity paths (globs, folders) are not loaded: `paths` is called with
 * them and must throw. Lazy-relation getters are not installed, so which DataSource `new Entity()`
 * lazy-loads through stays as it was.
 */
export function buildEntityMetadatasOffline(
  dataSource: DataSource,
  paths: (paths: string[]) => never,
  storage: MetadataArgsStorage = getMetadataArgsStorage(),
): EntityMetadata[] {
  const listed = dataSource.options.entities ?? [];
  const entries: unknown[] = Array.isArray(listed) ? listed : Object.values(listed);
  const strings = entries.filter((entry): entry is string => typeof entry === 'string');
  if (strings.length > 0) paths(strings);
  return buildEntityMetadatas(dataSource, storage, true);
}
