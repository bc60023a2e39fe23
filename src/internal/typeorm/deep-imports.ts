// TypeORM classes the package root does not export (checked against typeorm 1.1.1).
// test/canary/typeorm-internals.test.ts fails, naming the import, if one moves.
export { SoftDeleteQueryBuilder } from 'typeorm/query-builder/SoftDeleteQueryBuilder.js';
export { RelationLoader } from 'typeorm/query-builder/RelationLoader.js';
export { PlainObjectToDatabaseEntityTransformer } from 'typeorm/query-builder/transformer/PlainObjectToDatabaseEntityTransformer.js';
export { DriverUtils } from 'typeorm/driver/DriverUtils.js';
export { Broadcaster } from 'typeorm/subscriber/Broadcaster.js';
