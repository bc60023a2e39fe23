import type {
  DeleteQueryBuilder,
  EntityManager,
  InsertQueryBuilder,
  ObjectLiteral,
  RelationQueryBuilder,
  Repository,
  SelectQueryBuilder,
  TreeRepository,
  UpdateQueryBuilder,
} from 'typeorm';
import type { SoftDeleteQueryBuilder } from '../internal/typeorm/deep-imports.js';

// Which TypeORM 1.1.1 method is scoped, refused or neutral on the objects a tenant
// manager hands out, and which test proves it. test/coverage.test.ts lists the
// methods of each class at run time and fails when one is missing here, when an
// entry names a method that no longer exists, or when a proof file does not name
// its method. docs/coverage.md is rendered from this table (`npm run docs:coverage`).

/** The conformance test files that prove an entry. */
export type CoverageProof =
  | 'test/conformance/reads.test.ts'
  | 'test/conformance/relations.test.ts'
  | 'test/conformance/writes.test.ts'
  | 'test/conformance/trees.test.ts'
  | 'test/conformance/managers.test.ts'
  | 'test/conformance/refusals.test.ts';

/**
 * How one TypeORM method behaves when called on an object a tenant manager
 * handed out (the manager, its repositories and its query builders):
 * - `scoped`: it reads or writes rows, and only the tenant's rows; `test` proves it.
 * - `refused`: it throws `UnsafeQueryError` in safe mode (for the forms `reason` names); `test` proves it.
 * - `neutral`: it touches no rows (in-memory work, builder state, SQL rendering); `reason` says why.
 */
export type CoverageEntry =
  | { readonly status: 'scoped'; readonly test: CoverageProof }
  | { readonly status: 'refused'; readonly test: CoverageProof; readonly reason: string }
  | { readonly status: 'neutral'; readonly reason: string };

export type CoverageStatus = CoverageEntry['status'];

/** The TypeORM classes whose every method is classified. */
export type CoverageClassName =
  | 'EntityManager'
  | 'Repository'
  | 'TreeRepository'
  | 'SelectQueryBuilder'
  | 'InsertQueryBuilder'
  | 'UpdateQueryBuilder'
  | 'DeleteQueryBuilder'
  | 'SoftDeleteQueryBuilder'
  | 'RelationQueryBuilder';

export type CoverageTable = Readonly<Record<CoverageClassName, Readonly<Record<string, CoverageEntry>>>>;

/** Public (TypeScript-visible) method names of `T`: the compiler insists each one is classified. */
type PublicMethodName<T> = {
  [K in keyof T]-?: K extends `_${string}` ? never : K extends string ? (T[K] extends (...args: never[]) => unknown ? K : never) : never;
}[keyof T];
/** Every public method of `T`, plus the protected and private ones only the run-time check can see. */
type Covers<T> = Record<PublicMethodName<T>, CoverageEntry> & Record<string, CoverageEntry>;

const READS = 'test/conformance/reads.test.ts';
const RELATIONS = 'test/conformance/relations.test.ts';
const WRITES = 'test/conformance/writes.test.ts';
const TREES = 'test/conformance/trees.test.ts';
const MANAGERS = 'test/conformance/managers.test.ts';
const REFUSALS = 'test/conformance/refusals.test.ts';

const scoped = (test: CoverageProof): CoverageEntry => ({ status: 'scoped', test });
const refused = (test: CoverageProof, reason: string): CoverageEntry => ({ status: 'refused', test, reason });
const neutral = (reason: string): CoverageEntry => ({ status: 'neutral', reason });

/** The same entry for several methods. */
function each<const Name extends string>(names: readonly Name[], entry: CoverageEntry): Record<Name, CoverageEntry> {
  return Object.fromEntries(names.map((name) => [name, entry])) as Record<Name, CoverageEntry>;
}

// ---------------------------------------------------------------------------
// Reasons shared by many entries
// ---------------------------------------------------------------------------

const BUILDER_STATE = neutral('builder state only; scoping applies when the query is rendered');
const WHERE_STATE = neutral(
  'builder state only; when WHERE is rendered the tenant criterion is ANDed in its own parentheses, so an OR written here cannot escape it ' +
    '(SQL text written here is taken as is)',
);
const HAVING_STATE = neutral('builder state only; HAVING filters groups of rows that the scoped WHERE has already limited to the tenant');
const SELECTION_STATE = neutral(
  'builder state only: the selected expressions; a subquery factory gets a builder of this scope, SQL text written here is taken as is',
);
const RENDERING = neutral('renders SQL text or parameters only and runs nothing; the tenant criterion is part of what it renders');
const INTERNAL_RENDERING = neutral('internal (protected/private) rendering step: builds SQL text only and runs nothing');
const INTERNAL_STATE = neutral('internal (protected/private) step that only fills builder state; the sources it adds are scoped when the query renders');
const INTERNAL_VALIDATION = neutral('internal (protected/private) input validation; runs no query');
const IN_MEMORY = neutral('works on entity objects in memory; runs no query');
const RETURNING = neutral('builder state: which columns the statement returns; the rows it returns are the rows the scoped statement touched');
const FROM_REFUSAL =
  'a raw SQL subquery string ("(SELECT ...)") is refused with UnsafeQueryError in safe mode; an entity class, an entity name, ' +
  'a table name or a subquery factory is accepted and scoped when the query renders';

// ---------------------------------------------------------------------------
// EntityManager, Repository, TreeRepository
// ---------------------------------------------------------------------------

/** Find-style reads: TenantEntityManager routes `{ safe: false }`, TypeORM builds them on this manager's createQueryBuilder. */
const FIND_METHODS = [
  'find', 'findBy', 'findAndCount', 'findAndCountBy', 'findOne', 'findOneBy', 'findOneOrFail', 'findOneByOrFail',
  'count', 'countBy', 'exists', 'existsBy', 'sum', 'average', 'minimum', 'maximum',
] as const;

/** Writes: query-builder writes built on this manager's createQueryBuilder, and persistence (save, remove, ...) run in the tenant's scope. */
const WRITE_METHODS = [
  'insert', 'upsert', 'update', 'updateAll', 'delete', 'deleteAll', 'softDelete', 'restore', 'increment', 'decrement',
  'save', 'remove', 'softRemove', 'recover',
] as const;

const QUERY_REFUSAL = 'raw SQL cannot be scoped: UnsafeQueryError in safe mode (a tenant manager accepts query(sql, params, { safe: false }) on purpose)';
const SQL_REFUSAL = 'tagged-template raw SQL; it runs through query(), which refuses it with UnsafeQueryError in safe mode';
const CLEAR_REFUSAL = 'clear() is TRUNCATE, every tenant\'s rows: refused with UnsafeQueryError for tenant-scoped entities (shared entities pass through)';

const entityManager = {
  ...each(FIND_METHODS, scoped(READS)),
  callAggregateFun: scoped(READS), // private step of sum/average/minimum/maximum: a SELECT on this manager's builder
  ...each(WRITE_METHODS, scoped(WRITES)),
  incrementOrDecrementBy: scoped(WRITES), // protected step of increment/decrement: this.update(...)
  preload: scoped(RELATIONS),
  createQueryBuilder: scoped(MANAGERS),
  getRepository: scoped(MANAGERS),
  getTreeRepository: scoped(MANAGERS),
  withRepository: scoped(MANAGERS),
  transaction: scoped(MANAGERS),
  query: refused(REFUSALS, QUERY_REFUSAL),
  sql: refused(REFUSALS, SQL_REFUSAL),
  clear: refused(REFUSALS, CLEAR_REFUSAL),
  getMongoRepository: refused(REFUSALS, 'MongoDB repositories are not supported: always UnsafeQueryError'),
  create: neutral('builds entity instances in memory and runs no query; the tenant is stamped when the entity is inserted or saved'),
  merge: IN_MEMORY,
  hasId: IN_MEMORY,
  getId: IN_MEMORY,
  normalizeAndValidateWhereCriteria: neutral('internal (protected/private) check that update/delete criteria are not empty; runs no query'),
  release: neutral('releases the query runner this manager owns (a transaction\'s); touches no rows'),
} satisfies Covers<EntityManager>;

const repository = {
  ...each(FIND_METHODS, scoped(READS)),
  ...each(WRITE_METHODS, scoped(WRITES)),
  preload: scoped(RELATIONS),
  createQueryBuilder: scoped(MANAGERS),
  extend: scoped(MANAGERS),
  query: refused(REFUSALS, 'raw SQL cannot be scoped: delegates to the manager\'s query() without options, so it is always UnsafeQueryError in safe mode'),
  sql: refused(REFUSALS, SQL_REFUSAL),
  clear: refused(REFUSALS, CLEAR_REFUSAL),
  create: neutral('builds entity instances in memory and runs no query; the tenant is stamped when the entity is inserted or saved'),
  merge: IN_MEMORY,
  hasId: IN_MEMORY,
  getId: IN_MEMORY,
} satisfies Covers<Repository<ObjectLiteral>>;

const treeRepository = {
  ...repository,
  ...each(
    [
      'findTrees', 'findRoots', 'findDescendants', 'findDescendantsTree', 'countDescendants', 'createDescendantsQueryBuilder',
      'findAncestors', 'findAncestorsTree', 'countAncestors', 'createAncestorsQueryBuilder',
    ],
    scoped(TREES),
  ),
} satisfies Covers<TreeRepository<ObjectLiteral>>;

// ---------------------------------------------------------------------------
// Query builders
// ---------------------------------------------------------------------------

/**
 * What every builder inherits from TypeORM's QueryBuilder. `own` is the proof file
 * of the builder kind, for the members that clone it or run it.
 */
function queryBuilderBase(own: CoverageProof) {
  return {
    // Run or derive a builder: the scope travels with the instance (carryScope).
    execute: scoped(own),
    clone: scoped(own),
    createQueryBuilder: scoped(own),
    select: scoped(READS),
    ...each(['insert', 'update', 'delete', 'softDelete', 'restore'], scoped(WRITES)),
    relation: scoped(RELATIONS),
    addCommonTableExpression: refused(
      REFUSALS,
      'a CTE given as a SQL string, or built by anything but this tenant manager, cannot be scoped: UnsafeQueryError in safe mode',
    ),
    // Builder state.
    ...each(['comment', 'disableEscaping', 'setQueryRunner', 'useTransaction'], BUILDER_STATE),
    callListeners: neutral('builder state: turns entity listeners and subscribers on or off for this statement'),
    setParameter: neutral('builder state only; the tenant parameter is written last at render time, so a user parameter cannot replace it'),
    setParameters: neutral('builder state only; the tenant parameter is written last at render time, so a user parameter cannot replace it'),
    ...each(['hasParameter', 'hasRelation', 'hasCommonTableExpressions'], neutral('inspects builder state or entity metadata; runs no query')),
    escape: neutral('quotes an identifier for the driver; runs no query'),
    // Rendering.
    ...each(['getSql', 'getQueryAndParameters'], RENDERING),
    getParameters: neutral('returns the parameters and runs nothing; the scoped builder adds the tenant value here, at render time'),
    ...each(
      [
        'createComment', 'createCteExpression', 'createParameter', 'createPropertyPath', 'createReturningExpression',
        'createTimeTravelQuery', 'createWhereClausesExpression', 'createWhereConditionExpression', 'getExistsCondition',
        'getPredicates', 'getReturningColumns', 'getWhereCondition', 'getWhereInIdsCondition', 'getWherePredicateCondition',
        'getMainTableName', 'getTableName', 'findColumnsForPropertyPath', 'replacePropertyNamesForTheWholeQuery',
      ],
      INTERNAL_RENDERING,
    ),
    createWhereExpression: neutral(
      'internal (protected/private) rendering step that runs nothing; the scoped builder appends the tenant criterion of every scoped FROM alias here',
    ),
    createFromAlias: neutral(
      'internal (protected/private) step that resolves a FROM/INTO target and runs nothing; the scoped builder maps a scoped table name to its entity and refuses a raw SQL subquery here',
    ),
    obtainQueryRunner: neutral(
      'internal (protected/private): acquires a query runner and touches no rows; what runs on it is the scoped builder\'s SQL',
    ),
    ...each(['normalizeNumber', 'validateNumericInput', 'validateOrderByCondition'], INTERNAL_VALIDATION),
  } satisfies Record<string, CoverageEntry>;
}

const selectQueryBuilder = {
  ...queryBuilderBase(READS),
  // Runs the query.
  ...each(
    ['getMany', 'getOne', 'getOneOrFail', 'getManyAndCount', 'getRawAndEntities', 'getRawMany', 'getRawOne', 'getCount', 'getExists', 'stream', 'subQuery'],
    scoped(READS),
  ),
  ...each(['executeEntitiesAndRawResults', 'executeCountQuery', 'executeExistsQuery', 'loadRawResults'], scoped(READS)), // protected steps of the getters
  cache: scoped(READS), // an explicit cache id is prefixed with the tenant, so one tenant never reads another's cached rows
  // Brings rows of other entities in: joins, relation ids, find options.
  ...each(
    [
      'leftJoin', 'leftJoinAndSelect', 'leftJoinAndMapMany', 'leftJoinAndMapOne',
      'innerJoin', 'innerJoinAndSelect', 'innerJoinAndMapMany', 'innerJoinAndMapOne',
      'loadRelationIdAndMap', 'loadAllRelationIds', 'setFindOptions', 'concatRelationMetadata',
    ],
    scoped(RELATIONS),
  ),
  from: refused(REFUSALS, FROM_REFUSAL),
  addFrom: refused(REFUSALS, FROM_REFUSAL),
  fromDummy: scoped(READS), // TypeORM's constant dummy subquery reads no table; getExists() renders through it
  ...each(['select', 'addSelect'], SELECTION_STATE), // on a SelectQueryBuilder, select() only sets the selection
  ...each(['where', 'andWhere', 'orWhere', 'whereInIds', 'andWhereInIds', 'orWhereInIds'], WHERE_STATE),
  ...each(['having', 'andHaving', 'orHaving'], HAVING_STATE),
  ...each(
    ['whereExists', 'andWhereExists', 'orWhereExists'],
    refused(
      REFUSALS,
      'a builder of the same tenant (qb.subQuery(), em.createQueryBuilder()) is accepted and scoped; a plain or other-tenant builder is refused with UnsafeQueryError, since its rows would not be filtered',
    ),
  ),
  ...each(
    [
      'distinct', 'distinctOn', 'groupBy', 'addGroupBy', 'orderBy', 'addOrderBy', 'limit', 'offset',
      'setOption', 'maxExecutionTime', 'timeTravelQuery', 'useIndex', 'mergeExpressionMap',
    ],
    BUILDER_STATE,
  ),
  ...each(['skip', 'take'], neutral('builder state only; with joins, the pagination id query is built from a clone of this builder and is scoped too')),
  ...each(['setLock', 'setOnLocked'], neutral('builder state only; the lock applies to the rows the scoped query selects')),
  withDeleted: neutral('builder state: lifts TypeORM\'s soft-delete filter only; the tenant criterion does not depend on it'),
  getQuery: RENDERING,
  join: neutral(
    'internal (protected/private) step of every *Join* method that records the join and runs nothing; the scoped builder refuses a raw SQL subquery here and scopes the ON clause at render',
  ),
  createJoinExpression: neutral('internal (protected/private) rendering step that runs nothing; the scoped builder adds the tenant criterion to the ON clause of every scoped join here'),
  ...each(['applyFindOptions', 'buildRelations', 'buildEagerRelations', 'buildSelect', 'buildWhere', 'buildOrder'], INTERNAL_STATE),
  ...each(
    [
      'buildColumnSelectionExpression', 'buildEscapedEntityColumnSelects', 'buildJoinClause', 'computeCountExpression',
      'computeDistinctCountExpression', 'computeSelectedColumnExpressions', 'createGroupByExpression', 'createHavingExpression',
      'createJoinTreeRecursively', 'createLimitOffsetExpression', 'createLockExpression', 'createOrderByCombinedWithSelectExpression',
      'createOrderByExpression', 'createSelectDistinctExpression', 'createSelectExpression', 'createTableLockExpression',
      'findEntityColumnSelects', 'getRelationJoinType',
    ],
    INTERNAL_RENDERING,
  ),
  lazyCount: neutral('internal (protected/private) arithmetic of getManyAndCount: derives the count from rows already loaded; runs no query'),
} satisfies Covers<SelectQueryBuilder<ObjectLiteral>>;

const insertQueryBuilder = {
  ...queryBuilderBase(WRITES),
  into: scoped(WRITES),
  orUpdate: scoped(WRITES), // upsert: the conflict update never takes over another tenant's row
  valuesFromSelect: refused(
    REFUSALS,
    'INSERT ... SELECT into a tenant-scoped entity cannot be stamped or checked row by row: UnsafeQueryError in safe mode',
  ),
  values: neutral('builder state only; the tenant is stamped, and another tenant\'s id refused, when the value sets are read at execution'),
  orIgnore: neutral('builder state: a conflicting row is skipped, never updated; the inserted rows are stamped'),
  ...each(['returning', 'output'], RETURNING),
  updateEntity: neutral('builder state: whether generated values are read back after the insert (RETURNING, or a re-select that runs in the statement\'s scope)'),
  getQuery: RENDERING,
  createInsertExpression: neutral(
    'internal (protected/private) rendering step that runs nothing; the scoped builder guards upserts and refuses INSERT ... SELECT here',
  ),
  getValueSets: neutral('internal (protected/private) step that runs nothing; the scoped builder stamps the tenant and refuses another tenant\'s id here'),
  getInsertedColumns: neutral('internal (protected/private) step that runs nothing; the scoped builder adds the tenant column here'),
  createColumnValueExpression: neutral(
    'internal (protected/private) rendering step that runs nothing; the scoped builder renders a one-row insert\'s reference check as the tenant column\'s value here, and refuses rows changed since their check',
  ),
  ...each(
    [
      'createColumnNamesExpression', 'createMergeExpression', 'createMergeIntoInsertValuesExpression',
      'createMergeIntoSourceExpression', 'createUpsertConditionExpression', 'createValuesExpression', 'isOverridingAutoIncrementBehavior',
    ],
    INTERNAL_RENDERING,
  ),
} satisfies Covers<InsertQueryBuilder<ObjectLiteral>>;

/** Members UpdateQueryBuilder and SoftDeleteQueryBuilder share. */
const updateLikeQueryBuilder = {
  ...queryBuilderBase(WRITES),
  ...each(['where', 'andWhere', 'orWhere', 'whereInIds', 'andWhereInIds', 'orWhereInIds'], WHERE_STATE),
  whereEntity: neutral('builder state only: adds the entities\' ids to WHERE; the tenant criterion is still ANDed at render'),
  ...each(['orderBy', 'addOrderBy', 'limit'], BUILDER_STATE),
  ...each(['returning', 'output'], RETURNING),
  updateEntity: neutral('builder state: whether the updated entities are refreshed with generated values after the statement'),
  getQuery: RENDERING,
  ...each(['createLimitExpression', 'createOrderByExpression'], INTERNAL_RENDERING),
} satisfies Record<string, CoverageEntry>;

const updateQueryBuilder = {
  ...updateLikeQueryBuilder,
  set: neutral('builder state only; a value that changes the tenant column is refused when the statement renders'),
  getValueSet: INTERNAL_RENDERING,
  createUpdateExpression: neutral(
    'internal (protected/private) rendering step that runs nothing; the scoped builder refuses a change of the tenant column, and values changed since their reference check, here',
  ),
} satisfies Covers<UpdateQueryBuilder<ObjectLiteral>>;

const softDeleteQueryBuilder = {
  ...updateLikeQueryBuilder,
  from: refused(REFUSALS, FROM_REFUSAL),
  createUpdateExpression: INTERNAL_RENDERING,
} satisfies Covers<SoftDeleteQueryBuilder<ObjectLiteral>>;

const deleteQueryBuilder = {
  ...queryBuilderBase(WRITES),
  from: refused(REFUSALS, FROM_REFUSAL),
  ...each(['where', 'andWhere', 'orWhere', 'whereInIds', 'andWhereInIds', 'orWhereInIds'], WHERE_STATE),
  ...each(['returning', 'output'], RETURNING),
  getQuery: RENDERING,
  createDeleteExpression: INTERNAL_RENDERING,
} satisfies Covers<DeleteQueryBuilder<ObjectLiteral>>;

const relationQueryBuilder = {
  ...queryBuilderBase(RELATIONS),
  ...each(['set', 'add', 'remove', 'addAndRemove', 'loadOne', 'loadMany'], scoped(RELATIONS)),
  of: neutral('builder state only: names the entity whose relation is loaded or changed'),
  getQuery: neutral('always renders an empty string: a relation builder has no SQL of its own'),
  execute: neutral('runs the empty getQuery() text, never a row-touching statement; the relation operations (set, add, remove, load*) are the scoped ones'),
} satisfies Covers<RelationQueryBuilder<ObjectLiteral>>;

/**
 * Every method of TypeORM 1.1.1's `EntityManager`, `Repository`, `TreeRepository`
 * and six query builders, classified for the objects a tenant manager hands out:
 * `scoped` (only the tenant's rows; `test` is the conformance file that proves it),
 * `refused` (`UnsafeQueryError` in safe mode for the forms `reason` names) or
 * `neutral` (touches no rows; `reason` says why). Public, protected and private
 * methods are all listed, because all of them are callable at run time.
 *
 * `test/coverage.test.ts` keeps it honest: it fails when TypeORM has a method this
 * table does not classify, when an entry is stale, or when a proof file does not
 * name its method. `docs/coverage.md` is `coverageMarkdown()`.
 *
 * @example
 * coverageTable.EntityManager.find;  // { status: 'scoped', test: 'test/conformance/reads.test.ts' }
 * coverageTable.EntityManager.query; // { status: 'refused', test: 'test/conformance/refusals.test.ts', reason: 'raw SQL cannot be scoped: ...' }
 */
export const coverageTable: CoverageTable = {
  EntityManager: entityManager,
  Repository: repository,
  TreeRepository: treeRepository,
  SelectQueryBuilder: selectQueryBuilder,
  InsertQueryBuilder: insertQueryBuilder,
  UpdateQueryBuilder: updateQueryBuilder,
  DeleteQueryBuilder: deleteQueryBuilder,
  SoftDeleteQueryBuilder: softDeleteQueryBuilder,
  RelationQueryBuilder: relationQueryBuilder,
};

const INTRO = [
  '# TypeORM coverage',
  '',
  'Every method of TypeORM 1.1.1\'s `EntityManager`, `Repository`, `TreeRepository` and query builders, as it behaves on the',
  'objects a tenant manager (`tenancy.manager(tenant)`) hands out. Protected and private methods are listed too: JavaScript',
  'can call them.',
  '',
  '- **scoped**: it reads or writes rows, and only the tenant\'s rows. The proof is the named conformance test, run against every database.',
  '- **refused**: it throws `UnsafeQueryError` in safe mode, for the forms the reason names. The proof is the named test.',
  '- **neutral**: it touches no rows (in-memory work, builder state, SQL rendering). The reason says why.',
  '',
  'The table is data (`src/coverage/coverage-table.ts`), checked by `test/coverage.test.ts`: the test lists each class\'s',
  'methods at run time and fails when TypeORM adds a method nobody classified, when an entry names a method that is gone,',
  'when a proof file does not name its method, or when this page is out of date. Regenerate it with `npm run docs:coverage`.',
  '',
  'This page is generated; do not edit it by hand.',
];

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/** `coverageTable` as markdown: a summary, then one section per class with method, status and proof or reason. */
export function coverageMarkdown(): string {
  const classes = Object.entries(coverageTable) as Array<[CoverageClassName, Readonly<Record<string, CoverageEntry>>]>;
  const lines = [...INTRO, '', '| class | scoped | refused | neutral | methods |', '|---|---:|---:|---:|---:|'];
  for (const [className, methods] of classes) {
    const entries = Object.values(methods);
    const count = (status: CoverageStatus) => entries.filter((e) => e.status === status).length;
    lines.push(`| [${className}](#${className.toLowerCase()}) | ${count('scoped')} | ${count('refused')} | ${count('neutral')} | ${entries.length} |`);
  }
  for (const [className, methods] of classes) {
    lines.push('', `## ${className}`, '', '| method | status | proof / reason |', '|---|---|---|');
    for (const name of Object.keys(methods).sort()) {
      const entry = methods[name]!;
      const detail = entry.status === 'scoped' ? `\`${entry.test}\`` : entry.status === 'refused' ? `\`${entry.test}\`: ${entry.reason}` : entry.reason;
      lines.push(`| \`${name}\` | ${entry.status} | ${cell(detail)} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}
