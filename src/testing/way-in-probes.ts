import type { EntityManager, EntitySubscriberInterface, EntityTarget, ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import { describeError, type Outcome, type ProbeContext, tenancyCode, unseen } from './context.js';
import { fillValue } from './fill.js';
import { normalize, whereOf } from './rows.js';
import type { ScopedFacts } from './schema.js';
import { leavesUnchanged } from './write-probes.js';

// The other ways into tenant b's rows (DESIGN rules 8 and 9): the entity's table named by a
// string, subqueries from callbacks that return a plain builder, a subscriber's event.manager,
// and the tenant row itself. A refusal (a TenancyError) passes; rows of tenant b fail.

type Target = EntityTarget<ObjectLiteral>;

/** Spellings of a table that name it on the DataSource's database: letter case, quoting, default schema. */
function tableSpellings(metadata: EntityMetadata): string[] {
  const ds = metadata.dataSource;
  const name = metadata.tableName;
  const driver = ds.driver as { schema?: string; database?: string };
  const type = ds.options.type;
  const qualifier = metadata.schema
    ?? (type === 'postgres' || type === 'cockroachdb' || type === 'aurora-postgres' ? (driver.schema ?? 'public')
      : type === 'mysql' || type === 'mariadb' || type === 'aurora-mysql' ? driver.database
        : type === 'better-sqlite3' || type === 'sqljs' ? 'main' : undefined);
  // Qualified first: plain TypeORM reads the default schema's table through it on every dialect.
  const spellings = qualifier ? [`${qualifier}.${name}`, `"${qualifier}"."${name}"`] : [];
  spellings.push(name.toUpperCase(), `"${name}"`, `\`${name}\``);
  return [...new Set(spellings)].filter((s) => s !== name);
}

/** A read that must not return tenant b's keys (under the alias `k`); a TenancyError passes. */
async function noOtherKeys(ctx: ProbeContext, metadata: EntityMetadata, read: () => Promise<Array<{ k: unknown }>>): Promise<Outcome> {
  let rows: Array<{ k: unknown }>;
  try {
    rows = await read();
  } catch (error) {
    if (tenancyCode(error)) return { passed: true, detail: `refused: ${describeError(error)}` };
    throw error;
  }
  const others = ctx.otherKeys(metadata);
  const seen = rows.filter((r) => others.has(normalize(r.k))).map((r) => `${metadata.name} ${normalize(r.k)} of tenant ${normalize(ctx.tenants.b)}`);
  return unseen(seen, `${rows.length} rows, all the tenant's own`);
}

/** Reads through the entity's table named by a string and through subquery callbacks returning a plain builder. */
export async function wayInReadProbes(ctx: ProbeContext, { metadata }: ScopedFacts): Promise<void> {
  const entity = metadata.name;
  if (metadata.primaryColumns.length !== 1) {
    ctx.skip(entity, 'a composite primary key: the string-target and subquery probes compare single keys', 'ways in');
    return;
  }
  const key = metadata.primaryColumns[0]!;
  const target = metadata.target as Target;
  const em = ctx.manager('a');
  const probe = (name: string, fn: () => Promise<Outcome>) => ctx.probe(entity, name, fn);

  for (const spelling of tableSpellings(metadata)) {
    await probe(`createQueryBuilder().from('${spelling}') (the table named by a string)`, () =>
      noOtherKeys(ctx, metadata, () => em.createQueryBuilder().select(`x.${key.propertyPath}`, 'k').from(spelling, 'x').getRawMany()),
    );
  }
  // A plain builder: what a callback could return instead of the one it is handed.
  const plain = (): SelectQueryBuilder<ObjectLiteral> => ctx.facts.dataSource.createQueryBuilder();
  await probe('from(() => a plain builder) (subquery callback)', () =>
    noOtherKeys(ctx, metadata, () =>
      em.createQueryBuilder().select('s.k', 'k').from(() => plain().subQuery().select(`x.${key.propertyPath}`, 'k').from(target, 'x'), 's').getRawMany(),
    ),
  );
  await probe('leftJoin(() => a plain builder) (subquery callback)', () =>
    noOtherKeys(ctx, metadata, () =>
      em
        .createQueryBuilder(target, 'e')
        .select('s.k', 'k')
        .innerJoin(() => plain().subQuery().select(`x.${key.propertyPath}`, 'k').from(target, 'x'), 's', '1 = 1')
        .getRawMany(),
    ),
  );
  await probe('addSelect(() => a plain builder counting rows) (subquery callback)', async () => {
    let counted: unknown;
    try {
      const row = await em
        .createQueryBuilder(target, 'e')
        .select(`e.${key.propertyPath}`, 'k')
        .addSelect(() => plain().subQuery().select('COUNT(*)').from(target, 'x'), 'n')
        .getRawOne<{ n: unknown }>();
      counted = row?.n;
    } catch (error) {
      if (tenancyCode(error)) return { passed: true, detail: `refused: ${describeError(error)}` };
      throw error;
    }
    const own = (await ctx.raw.rowsOf(metadata, ctx.facts.scoped.get(metadata)!.column, ctx.tenants.a)).length;
    return counted === undefined || Number(counted) <= own
      ? { passed: true, detail: `counted ${String(counted ?? 'nothing')}` }
      : { passed: false, detail: `counted ${String(counted)} rows; the tenant has ${own}: the subquery read other tenants` };
  });
  await subscriberProbes(ctx, metadata);
}

/**
 * A subscriber listening to the entity reads it through `event.manager` during tenant a's
 * operations (a read, and a read in a transaction): it must see tenant a's rows only.
 */
async function subscriberProbes(ctx: ProbeContext, metadata: EntityMetadata): Promise<void> {
  const target = metadata.target as Target;
  const ds = ctx.facts.dataSource;
  const em = ctx.manager('a');
  const findings: string[] = [];
  let looks = 0;
  let listening = false;
  const active = new Set<EntityManager>();
  const look = async (manager: EntityManager | undefined) => {
    // Its own read raises events on the same manager: one look per manager at a time.
    if (!listening || !manager || active.has(manager)) return;
    active.add(manager);
    try {
      looks++;
      findings.push(...ctx.foreign(metadata, await manager.find(target, { withDeleted: true })));
    } catch (error) {
      if (!tenancyCode(error)) findings.push(`event.manager threw ${describeError(error)}`);
    } finally {
      active.delete(manager);
    }
  };
  const subscriber: EntitySubscriberInterface<ObjectLiteral> = {
    listenTo: () => metadata.target as Function,
    afterLoad: (_entity, event) => look(event?.manager),
    afterTransactionStart: (event) => look(event.manager),
  };
  ds.subscribers.push(subscriber);
  try {
    for (const [name, operation] of [
      ['find()', () => em.find(target)],
      ['transaction(tx => tx.find())', () => em.transaction((tx) => tx.find(target))],
    ] as const) {
      await ctx.probe(metadata.name, `a subscriber's event.manager during ${name}`, async () => {
        findings.length = 0;
        looks = 0;
        listening = true;
        try {
          await operation();
        } finally {
          listening = false;
        }
        if (looks === 0) return { passed: false, detail: 'no event reached the subscriber: the probe proved nothing' };
        return unseen(findings, `${looks} events; event.manager saw the tenant's own rows only`);
      });
    }
  } finally {
    ds.subscribers.splice(ds.subscribers.indexOf(subscriber), 1);
  }
}

/** Writes through the entity's table named by a string, aimed at tenant b's row. */
export async function wayInWriteProbes(ctx: ProbeContext, { metadata }: ScopedFacts): Promise<void> {
  const other = ctx.rows.get(metadata)!.b[0]!;
  const em = ctx.manager('a');
  const spelling = tableSpellings(metadata)[0];
  if (!spelling) return;
  await ctx.probe(metadata.name, `createQueryBuilder().delete().from('${spelling}').where(the other tenant's key)`, () =>
    leavesUnchanged(ctx, metadata, other, ctx.tenants.b, () => em.createQueryBuilder().delete().from(spelling).where(whereOf(metadata, other)).execute()),
  );
}

/**
 * The tenant table through tenant a's manager (rule 9): only a's own row is read, and tenant
 * b's row cannot be changed or deleted (the delete runs in a transaction rolled back, so a
 * leaking delete cannot cascade into b's rows).
 */
export async function tenantRowProbes(ctx: ProbeContext): Promise<void> {
  const metadata = ctx.facts.tenantMetadata;
  const target = metadata.target as Target;
  const key = metadata.primaryColumns[0]!;
  const entity = metadata.name;
  const em = ctx.manager('a');
  const b = ctx.tenants.b;
  const bWhere = key.createValueMap(b);
  const probe = (name: string, fn: () => Promise<Outcome>) => ctx.probe(entity, name, fn);
  const otherTenant = (rows: ObjectLiteral[]) =>
    rows.filter((r) => normalize(key.getEntityValue(r)) !== normalize(ctx.tenants.a)).map((r) => `${entity} ${normalize(key.getEntityValue(r))}`);

  await probe('find() of the tenant table', async () => {
    const rows = await em.find(target);
    if (!rows.some((r) => normalize(key.getEntityValue(r)) === normalize(ctx.tenants.a))) {
      return { passed: false, detail: "did not return the tenant's own row: the probe proves nothing" };
    }
    return unseen(otherTenant(rows), `${rows.length} row, the tenant's own`);
  });
  await probe("findOneBy(the other tenant's id) of the tenant table", async () => unseen(otherTenant([await em.findOneBy(target, bWhere)].filter(Boolean) as ObjectLiteral[]), 'null'));
  const bRow = await ctx.raw.rowByKey(metadata, { [key.databaseName]: b }, undefined);
  const change = metadata.columns.find((c) => !c.isPrimary && !c.relationMetadata && c.isUpdate && !c.isGenerated && fillValue(c, 'changed') !== undefined && typeof fillValue(c, 'changed') === 'string');
  if (bRow && change) {
    await probe(`update(the other tenant's id, { ${change.propertyPath} }) of the tenant table`, () =>
      leavesUnchanged(ctx, metadata, bRow, undefined, () => em.update(target, bWhere, change.createValueMap(fillValue(change, 'changed')))),
    );
  } else {
    ctx.skip(entity, 'no plain text column to change on the tenant table', 'tenant row update');
  }
  await probe("delete(the other tenant's id) of the tenant table (in a transaction rolled back)", async () => {
    const rollback = new Error('typeorm-tenancy probe: roll back');
    let affected: number | null | undefined;
    try {
      await em.transaction(async (tx) => {
        affected = (await tx.delete(target, bWhere)).affected;
        throw rollback;
      });
    } catch (error) {
      if (error !== rollback) {
        if (tenancyCode(error)) return { passed: true, detail: `refused: ${describeError(error)}` };
        throw error;
      }
    }
    return affected ? { passed: false, detail: `deleted ${affected} tenant row(s) of another tenant (rolled back)` } : { passed: true, detail: '0 rows affected' };
  });
}
