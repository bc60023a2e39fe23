import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { ScopeRegistry } from '../scoping/scope-registry.js';

/** Distribution DDL for a Citus cluster, and what cannot be distributed as is. */
export interface CitusPlan {
  /** `SELECT create_reference_table(...)` for shared tables, then `create_distributed_table(...)` for scoped ones, in dependency order. */
  readonly statements: string[];
  /** Tables the plan cannot place (e.g. a many-to-many junction between scoped entities has no tenant column). */
  readonly warnings: string[];
}

function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * Citus distributes scoped tables by `tenant_id`, all co-located with the first one,
 * so a tenant's rows of every table live on the same node and joins stay local;
 * shared tables (the tenant table included) become reference tables, copied to
 * every node. Citus needs every primary and unique key of a distributed table to
 * include the distribution column: use `compositeKeys: 'primary'`.
 */
export function citusPlan(registry: ScopeRegistry): CitusPlan {
  const metadatas = registry.dataSource.entityMetadatas.filter((m) => m.tableType !== 'view' && m.tableType !== 'entity-child');
  const scoped = metadatas.filter((m) => registry.scopedEntity(m));
  const statements: string[] = [];
  const warnings: string[] = [];
  for (const m of metadatas) {
    if (registry.scopedEntity(m)) continue;
    const joinsScoped = m.tableType === 'junction' && m.foreignKeys.some((fk) => registry.scopedEntity(fk.referencedEntityMetadata));
    if (joinsScoped) {
      warnings.push(`${m.tablePath}: a junction table between scoped entities has no ${'tenant_id'} column; model it as a @TenantScoped entity to distribute it.`);
      continue;
    }
    statements.push(`SELECT create_reference_table(${literal(m.tablePath)})`);
  }
  // Referenced distributed tables first: Citus checks foreign keys when distributing.
  const ordered: EntityMetadata[] = [];
  const visit = (m: EntityMetadata, path: Set<EntityMetadata>) => {
    if (ordered.includes(m) || path.has(m)) return;
    path.add(m);
    for (const fk of m.foreignKeys) if (scoped.includes(fk.referencedEntityMetadata)) visit(fk.referencedEntityMetadata, path);
    ordered.push(m);
  };
  for (const m of scoped) visit(m, new Set());
  const first = ordered[0];
  for (const m of ordered) {
    const column = registry.scopedEntity(m)!.column.databaseName;
    const colocate = m === first ? '' : `, colocate_with => ${literal(first!.tablePath)}`;
    statements.push(`SELECT create_distributed_table(${literal(m.tablePath)}, ${literal(column)}${colocate})`);
  }
  return { statements, warnings };
}
