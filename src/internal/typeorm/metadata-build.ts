import { type DataSource, EntitySchema, getMetadataArgsStorage, InstanceChecker } from 'typeorm';
import { ConnectionMetadataBuilder } from 'typeorm/connection/ConnectionMetadataBuilder.js';
import { EntitySchemaTransformer } from 'typeorm/entity-schema/EntitySchemaTransformer.js';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import { MetadataArgsStorage } from 'typeorm/metadata-args/MetadataArgsStorage.js';
import { EntityMetadataBuilder } from 'typeorm/metadata-builder/EntityMetadataBuilder.js';
import { EntityMetadataValidator } from 'typeorm/metadata-builder/EntityMetadataValidator.js';

// A Tenancy adds its tenant column and keys to a copy of TypeORM's decorator args and builds its
// DataSource's metadata from that copy, so the additions (and the compositeKeys mode) belong to that
// DataSource only: another DataSource over the same classes, plain or with other options, is built
// from the untouched global args. TypeORM reads the global args in one place,
// ConnectionMetadataBuilder#buildEntityMetadatas, called from DataSource#buildMetadatas (protected);
// the DataSource's own buildMetadatas is replaced by the same steps with the copy (checked against
// typeorm 1.1.1, test/canary/typeorm-internals.test.ts).

/**
 * A copy of TypeORM's global decorator args: new arrays holding the same entries. Entries the
 * Tenancy changes are replaced in the copy, never edited in place.
 */
export function copyMetadataArgs(): MetadataArgsStorage {
  const copy = new MetadataArgsStorage();
  for (const [key, value] of Object.entries(getMetadataArgsStorage())) {
    if (Array.isArray(value)) Object.assign(copy, { [key]: [...value] });
  }
  return copy;
}

function listed(dataSource: DataSource, option: 'entities' | 'subscribers' | 'migrations'): unknown[] {
  const value: unknown = dataSource.options[option] ?? [];
  return Array.isArray(value) ? value : Object.values(value as object);
}

/**
 * The entity metadata of `dataSource` from `storage` (classes) and its EntitySchemas, as
 * ConnectionMetadataBuilder#buildEntityMetadatas builds it. Entity paths must have been refused.
 * `offline`: the builder installs lazy-relation getters on entity prototypes through the
 * DataSource's relation loader; offline it gets a view whose loader installs nothing.
 */
export function buildEntityMetadatas(dataSource: DataSource, storage: MetadataArgsStorage, offline = false): EntityMetadata[] {
  const entries = listed(dataSource, 'entities');
  const schemas = entries.filter((entry): entry is EntitySchema => entry instanceof EntitySchema);
  const classes = entries.filter((entry): entry is Function => typeof entry === 'function');
  const builder = offline ? (Object.create(dataSource, { relationLoader: { value: { enableLazyLoad: () => {} } } }) as DataSource) : dataSource;
  return [
    ...new EntityMetadataBuilder(builder, storage).build(classes),
    ...new EntityMetadataBuilder(builder, new EntitySchemaTransformer().transform(schemas)).build(),
  ];
}

/** Makes `dataSource.initialize()` build its entity metadata from `storage()` instead of the global args. */
export function buildMetadataFrom(dataSource: DataSource, storage: () => MetadataArgsStorage): void {
  // The steps of DataSource#buildMetadatas in typeorm 1.1.1, with the entity metadata from `storage`.
  const buildMetadatas = async (): Promise<void> => {
    const connectionBuilder = new ConnectionMetadataBuilder(dataSource);
    const subscribers = await connectionBuilder.buildSubscribers(listed(dataSource, 'subscribers') as Array<Function | string>);
    Object.assign(dataSource, { subscribers });
    const entityMetadatas = buildEntityMetadatas(dataSource, storage());
    Object.assign(dataSource, { entityMetadatas, entityMetadatasMap: new Map(entityMetadatas.map((m) => [m.target, m])) });
    const migrations = await connectionBuilder.buildMigrations(listed(dataSource, 'migrations') as Array<Function | string>);
    Object.assign(dataSource, { migrations });
    new EntityMetadataValidator().validateMany(entityMetadatas.filter((m) => m.tableType !== 'view'), dataSource.driver);
    for (const metadata of entityMetadatas) {
      if (InstanceChecker.isBaseEntityConstructor(metadata.target)) metadata.target.useDataSource(dataSource);
    }
  };
  Object.assign(dataSource, { buildMetadatas });
}
