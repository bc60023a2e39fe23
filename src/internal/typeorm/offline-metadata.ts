import { type DataSource, EntitySchema, getMetadataArgsStorage } from 'typeorm';
import { EntitySchemaTransformer } from 'typeorm/entity-schema/EntitySchemaTransformer.js';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import { EntityMetadataBuilder } from 'typeorm/metadata-builder/EntityMetadataBuilder.js';

// The entity metadata of a DataSource without connecting it (checked against typeorm 1.1.1,
// test/canary): what DataSource#buildMetadatas → ConnectionMetadataBuilder#buildEntityMetadatas
// builds at initialize(), for entity classes and EntitySchemas. It only needs the driver object,
// which the DataSource constructor creates without connecting.

/**
 * Builds the entity metadata of `dataSource` as initialize() would, without a connection and
 * without touching the DataSource. Entity paths (globs, folders) are not loaded: `paths` is
 * called with them and must throw. The builder installs lazy-relation getters on entity
 * prototypes through the DataSource's relation loader; it gets a view of the DataSource whose
 * loader installs nothing, so which DataSource `new Entity()` lazy-loads through stays as it was.
 */
export function buildEntityMetadatasOffline(dataSource: DataSource, paths: (paths: string[]) => never): EntityMetadata[] {
  const listed = dataSource.options.entities ?? [];
  const entries: unknown[] = Array.isArray(listed) ? listed : Object.values(listed);
  const strings = entries.filter((entry): entry is string => typeof entry === 'string');
  if (strings.length > 0) paths(strings);
  const schemas = entries.filter((entry): entry is EntitySchema => entry instanceof EntitySchema);
  const classes = entries.filter((entry): entry is Function => typeof entry === 'function');
  const view = Object.create(dataSource, { relationLoader: { value: { enableLazyLoad: () => {} } } }) as DataSource;
  return [
    ...new EntityMetadataBuilder(view, getMetadataArgsStorage()).build(classes),
    ...new EntityMetadataBuilder(view, new EntitySchemaTransformer().transform(schemas)).build(),
  ];
}
