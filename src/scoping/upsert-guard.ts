import type { InsertQueryBuilder, ObjectLiteral } from 'typeorm';
import { UnsafeQueryError } from '../errors.js';
import { DriverUtils } from '../internal/typeorm/deep-imports.js';
import type { ScopeContext } from './scope-context.js';
import type { ScopedEntity } from './scope-registry.js';
import { tenantCriterion } from './tenant-criterion.js';

type OnUpdate = NonNullable<InsertQueryBuilder<ObjectLiteral>['expressionMap']['onUpdate']>;

/**
 * Renders an upsert so that it can never take over another tenant's row:
 * the tenant column is never overwritten, and the DO UPDATE only fires when the
 * existing row already belongs to the tenant (`ON CONFLICT ... DO UPDATE ...
 * WHERE tenant_id = :tenant`). A conflict with another tenant's row then
 * changes nothing. Dialects without a conditional upsert are refused.
 */
export function renderGuardedUpsert(
  qb: InsertQueryBuilder<ObjectLiteral>,
  scoped: ScopedEntity,
  scope: ScopeContext,
  render: () => string,
): string {
  const onUpdate = qb.expressionMap.onUpdate as OnUpdate;
  const driver = qb.connection.driver;
  const isPostgres = DriverUtils.isPostgresFamily(driver);
  const isSqlite = DriverUtils.isSQLiteFamily(driver);
  if ((!isPostgres && !isSqlite) || onUpdate.upsertType === 'primary-key' || (onUpdate.overwrite === undefined && onUpdate.columns)) {
    throw new UnsafeQueryError(
      `upsert on tenant-scoped ${scoped.metadata.name} is not supported on ${driver.options.type}: its upsert cannot be limited to the tenant's rows. ` +
        'Use save() or an explicit update, or pass { safe: false } to the manager on purpose.',
      { entity: scoped.metadata.name, operation: 'upsert', tenant: scope.tenantId },
    );
  }
  const { overwrite, overwriteCondition } = onUpdate;
  const criterion = tenantCriterion(scoped, qb.alias !== scoped.metadata.tablePath ? qb.alias : scoped.metadata.tablePath);
  onUpdate.overwrite = overwrite?.filter((column) => column !== scoped.column.databaseName);
  if (isPostgres) onUpdate.overwriteCondition = [...(overwriteCondition ?? []), { type: 'and', condition: criterion }];
  try {
    const sql = render();
    // TypeORM renders no DO UPDATE ... WHERE for SQLite; SQLite supports it, and the
    // upsert clause is the end of the statement there (no RETURNING is emitted).
    return isSqlite && / DO UPDATE SET /.test(sql) ? `${sql.trimEnd()} WHERE ${tenantCriterion(scoped, undefined)}` : sql;
  } finally {
    onUpdate.overwrite = overwrite;
    onUpdate.overwriteCondition = overwriteCondition;
  }
}
