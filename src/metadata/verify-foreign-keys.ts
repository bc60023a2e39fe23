import type { DataSource } from 'typeorm';
import { DriverUtils } from '../internal/typeorm/deep-imports.js';
import type { ScopeRegistry } from '../scoping/scope-registry.js';
import type { KeyProblem } from './verify-keys.js';

/**
 * SQLite enforces foreign keys only on connections that ran `PRAGMA foreign_keys = ON` (TypeORM
 * does on its own). With composite tenant keys in the schema, a connection without it accepts a
 * cross-tenant reference: reported for the DataSource's connection, since the composite keys are
 * what the database's refusal depends on.
 */
export async function verifySqliteForeignKeys(dataSource: DataSource, registry: ScopeRegistry): Promise<KeyProblem[]> {
  if (!DriverUtils.isSQLiteFamily(dataSource.driver)) return [];
  const composite = [...registry.scopedEntities].filter(({ metadata }) => registry.enforcedRelationsOf(metadata).length > 0);
  if (composite.length === 0) return [];
  const [row] = (await dataSource.query('PRAGMA foreign_keys')) as Array<{ foreign_keys?: number }>;
  if (row?.foreign_keys === 1) return [];
  const tables = composite.map(({ metadata }) => metadata.tableName).join(', ');
  return [
    {
      kind: 'foreign-keys-off',
      subject: tables,
      message:
        `SQLite foreign keys are off on this connection (PRAGMA foreign_keys = 0), so the composite tenant keys of ${tables} refuse nothing. ` +
        'Run PRAGMA foreign_keys = ON on every connection that writes to the database.',
    },
  ];
}
