import type { EntityTarget, ObjectLiteral } from 'typeorm';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { QueryExpressionMap } from 'typeorm/query-builder/QueryExpressionMap.js';
import { MissingTenantError, UnsafeQueryError } from '../errors.js';
import type { ScopeContext } from './scope-context.js';
import { refused } from './refusal.js';

// TypeORM's own fromDummy() selects from this constant subquery (no rows of any table).
const dummyFrom = '(SELECT 1 AS dummy_column)';

/** A relation path such as `post.author`, as TypeORM's join() reads it (QueryBuilderUtils.isAliasProperty). */
function isRelationPath(text: string): boolean {
  const [alias, property] = text.split('.');
  return !!alias && !!property && !text.includes('(') && !text.includes(')');
}

/** The metadata's target in the form `createFromAlias`/`join` accept and resolve back to that metadata. */
function targetOf(metadata: EntityMetadata): EntityTarget<ObjectLiteral> {
  const ds = metadata.dataSource;
  return ds.hasMetadata(metadata.target) && ds.getMetadata(metadata.target) === metadata ? metadata.target : metadata.tablePath;
}

function refuse(scope: ScopeContext, operation: string, target: string, why: string): never {
  throw refused(scope, new UnsafeQueryError(
    `${operation}("${target.slice(0, 80)}") ${why} A tenant manager only reads tables it can scope: ` +
      'use the entity class (em.createQueryBuilder(Post, "p")), or pass { safe: false } on purpose.',
    { operation, tenant: scope.tenantId },
  ));
}

/**
 * A table or subquery given to `from`/`addFrom`/`into`/`update`/`delete().from`/`join` as a
 * string, turned into something the tenant criterion reaches:
 * - a name of a table TypeORM knows (any quoting, letter case or default schema/database
 *   qualifier the database accepts) becomes that entity, so a scoped table gets the criterion
 *   (and the stamp and guards on writes) — `'public.posts'`, `'"POSTS"'`, `'main.Posts'`;
 * - a raw SQL subquery (`'(SELECT ...)'`) cannot be scoped and is refused;
 * - any other name is not a table of this DataSource: for a tenant it is refused (or, unqualified,
 *   left for the render-time check, which allows the names of common table expressions);
 *   without a tenant (the default manager outside `run()`) it passes as plain TypeORM would,
 *   unless it may name a scoped table somewhere else (another schema or database).
 * `{ safe: false }` builders take strings as TypeORM does.
 */
export function resolveStringTarget(scope: ScopeContext | undefined, target: unknown, operation: string, join = false): unknown {
  if (!scope?.safe || typeof target !== 'string' || target === dummyFrom) return target;
  const trimmed = target.trim();
  if (trimmed.startsWith('(')) refuse(scope, operation, trimmed, 'is a raw SQL subquery that the tenant criterion cannot be applied to.');
  // join('p.author') names a relation of an alias: TypeORM resolves it (and fails if there is none).
  if (join && isRelationPath(target)) return target;
  const { registry } = scope;
  const dataSource = registry.dataSource;
  if (dataSource.hasMetadata(target)) return target; // exactly as TypeORM resolves it
  const resolution = registry.tableNames.resolve(trimmed);
  if (resolution.kind === 'table') {
    const metadata = resolution.metadata;
    // Schema strategy: a qualified name reaches a schema's own copy of a scoped table, not the tenant's.
    if (registry.schemas && registry.scopedEntity(metadata) && trimmed.includes('.')) {
      refuse(scope, operation, trimmed, "names a tenant-scoped table by schema; under the schema strategy every tenant's rows live in its own schema.");
    }
    return targetOf(metadata);
  }
  if (resolution.kind === 'malformed') {
    if (scope.tenantId === undefined) return target;
    refuse(scope, operation, trimmed, 'is not a table name the library can read with certainty.');
  }
  const guarded = resolution.resembles.some((m) => registry.scopedEntity(m));
  if (scope.tenantId === undefined) {
    if (!guarded) return target;
    throw refused(scope, new MissingTenantError(
      `${operation}("${trimmed.slice(0, 80)}") may name a tenant-scoped table and ran with no tenant bound. ` +
        'Use tenancy.manager(tenantId), run it inside tenancy.run(tenantId, fn), or pass { safe: false } on purpose.',
      { operation },
    ));
  }
  if (resolution.qualified || guarded) {
    refuse(scope, operation, trimmed, `is not a table of this DataSource${guarded ? ' (it shares its name with a tenant-scoped table)' : ''}.`);
  }
  return target; // perhaps a common table expression: checked when the query renders
}

/** Common table expression names visible to a builder: its own and its parents' (subqueries). */
function cteNames(builder: { expressionMap: QueryExpressionMap; parentQueryBuilder?: unknown }): Set<string> {
  const names = new Set<string>();
  for (let qb: typeof builder | undefined = builder; qb; qb = qb.parentQueryBuilder as typeof builder | undefined) {
    for (const cte of qb.expressionMap.commonTableExpressions) names.add(cte.alias);
  }
  return names;
}

/**
 * At render time: every table named by a string that is not a table TypeORM knows must be a
 * common table expression of this query (CTE bodies are checked when they are added).
 */
export function assertStringTablesKnown(scope: ScopeContext | undefined, builder: { expressionMap: QueryExpressionMap; parentQueryBuilder?: unknown }): void {
  if (!scope?.safe || scope.tenantId === undefined) return;
  let ctes: Set<string> | undefined;
  for (const alias of builder.expressionMap.aliases) {
    if (alias.hasMetadata || !alias.tablePath || alias.subQuery) continue;
    ctes ??= cteNames(builder);
    if (!ctes.has(alias.tablePath)) {
      refuse(scope, alias.type === 'join' ? 'join' : 'from', alias.tablePath, 'is neither a table of this DataSource nor a common table expression of this query.');
    }
  }
}
