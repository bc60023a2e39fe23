import type { EntityTarget, FindManyOptions, ObjectLiteral } from 'typeorm';
import { type ProbeContext, tenancyCode, unseen } from './context.js';
import { entityKey, normalize, rawKey, whereOf } from './rows.js';
import type { ScopedFacts } from './schema.js';

type Target = EntityTarget<ObjectLiteral>;

/**
 * Reads of tenant a aimed at tenant b's rows of one scoped entity: every find
 * variant by b's key, counts, existence, preload, repositories, query builders
 * (a user's OR, every scoped relation joined, raw results), trees and raw SQL.
 */
export async function readProbes(ctx: ProbeContext, { metadata, column }: ScopedFacts): Promise<void> {
  const target = metadata.target as Target;
  const rows = ctx.rows.get(metadata)!;
  const entity = metadata.name;
  const otherWhere = whereOf(metadata, rows.b[0]!);
  const ownWhere = whereOf(metadata, rows.a[0]!);
  const ownKey = rawKey(metadata, rows.a[0]!);
  const em = ctx.manager('a');
  const none = (found: unknown[] | null | undefined, what: string) =>
    unseen(ctx.foreign(metadata, found ?? []), `${what}`);
  const probe = (name: string, fn: Parameters<ProbeContext['probe']>[2]) => ctx.probe(entity, name, fn);

  await probe('find() (all rows, withDeleted)', async () => {
    const found = await em.find(target, { withDeleted: true });
    const outcome = none(found, `${found.length} rows, all the tenant's own`);
    if (outcome.passed && !found.some((e) => entityKey(metadata, e) === ownKey)) {
      return { passed: false, detail: "did not return the tenant's own seeded row: the probes of this entity would prove nothing" };
    }
    return outcome;
  });
  await probe("find({ where: the other tenant's key })", async () => none(await em.find(target, { where: otherWhere, withDeleted: true }), 'no rows'));
  await probe("find({ where: [own key, the other tenant's key] }) (OR)", async () => {
    const found = await em.find(target, { where: [ownWhere, otherWhere], withDeleted: true });
    return none(found, `${found.length} row, the tenant's own`);
  });
  await probe("findBy(the other tenant's key)", async () => none(await em.findBy(target, otherWhere), 'no rows'));
  await probe("findOneBy(the other tenant's key)", async () => none([await em.findOneBy(target, otherWhere)].filter(Boolean), 'null'));
  await probe("findOne({ where: the other tenant's key, withDeleted })", async () =>
    none([await em.findOne(target, { where: otherWhere, withDeleted: true })].filter(Boolean), 'null'),
  );
  await probe("findAndCount({ where: the other tenant's key })", async () => {
    const [found, count] = await em.findAndCount(target, { where: otherWhere, withDeleted: true });
    return count === 0 ? none(found, 'no rows, count 0') : { passed: false, detail: `counted ${count} rows of the other tenant` };
  });
  await probe("countBy(the other tenant's key)", async () => {
    const count = await em.countBy(target, otherWhere);
    return count === 0 ? { passed: true, detail: '0' } : { passed: false, detail: `counted ${count} rows of the other tenant` };
  });
  await probe('count({ withDeleted }) equals the tenant\'s own rows', async () => {
    const count = await em.count(target, { withDeleted: true } as FindManyOptions<ObjectLiteral>);
    const own = (await ctx.raw.rowsOf(metadata, column, ctx.tenants.a)).length;
    return count === own ? { passed: true, detail: `${count}` } : { passed: false, detail: `counted ${count}, but the tenant has ${own} rows` };
  });
  await probe("existsBy(the other tenant's key)", async () => {
    const exists = await em.existsBy(target, otherWhere);
    return exists ? { passed: false, detail: "true: the other tenant's row is visible" } : { passed: true, detail: 'false' };
  });
  await probe("preload(the other tenant's key)", async () => {
    const loaded = await em.preload(target, otherWhere);
    return none(loaded ? [loaded] : [], 'undefined');
  });
  await probe("getRepository().findOneBy(the other tenant's key)", async () =>
    none([await em.getRepository(target).findOneBy(otherWhere)].filter(Boolean), 'null'),
  );
  await probe("createQueryBuilder().where('1 = 1 OR 1 = 1').getMany()", async () => {
    const found = await em.createQueryBuilder(target, 'e').withDeleted().where('1 = 1 OR 1 = 1').getMany();
    return none(found, `${found.length} rows, all the tenant's own`);
  });
  await probe("createQueryBuilder().where(the other tenant's key).getOne()", async () => {
    const found = await em.createQueryBuilder(target, 'e').withDeleted().where(otherWhere).getOne();
    return none(found ? [found] : [], 'null');
  });
  const joined = metadata.relations.filter((r) => ctx.facts.scoped.has(r.inverseEntityMetadata));
  if (joined.length > 0) {
    await probe(`createQueryBuilder() joining every scoped relation (${joined.map((r) => r.propertyPath).join(', ')})`, async () => {
      const qb = em.createQueryBuilder(target, 'e').withDeleted();
      joined.forEach((r, i) => qb.leftJoinAndSelect(`e.${r.propertyPath}`, `r${i}`));
      const found = await qb.getMany();
      return none(found, `${found.length} rows; joined rows all the tenant's own`);
    });
  }
  await probe('createQueryBuilder().getRawMany() of the tenant column', async () => {
    const raw = await em.createQueryBuilder(target, 'e').withDeleted().select(`e.${column.propertyPath}`, 'tenant').getRawMany<{ tenant: unknown }>();
    const others = raw.filter((r) => normalize(r.tenant) !== normalize(ctx.tenants.a));
    return others.length === 0
      ? { passed: true, detail: `${raw.length} rows of the tenant` }
      : { passed: false, detail: `${others.length} rows of tenants ${[...new Set(others.map((r) => normalize(r.tenant)))].join(', ')}` };
  });
  if (metadata.treeType === 'materialized-path' || metadata.treeType === 'closure-table') {
    await probe('getTreeRepository().findTrees()', async () => {
      const trees = await em.getTreeRepository(target).findTrees();
      return none(trees, `${trees.length} roots, all the tenant's own`);
    });
    await probe('getTreeRepository().findRoots()', async () => {
      const roots = await em.getTreeRepository(target).findRoots();
      return none(roots, `${roots.length} roots, all the tenant's own`);
    });
  }
  await probe('query() (raw SQL)', async () => {
    let result: unknown;
    try {
      result = await em.query(`SELECT ${ctx.raw.column(column)} AS tenant FROM ${ctx.raw.table(metadata)}`);
    } catch (error) {
      if (tenancyCode(error) === 'TENANCY_UNSAFE_QUERY') return { passed: true, detail: 'refused with UnsafeQueryError' };
      throw error;
    }
    const raw = (Array.isArray(result) ? result : []) as Array<{ tenant: unknown }>;
    const others = raw.filter((r) => normalize(r.tenant) !== normalize(ctx.tenants.a));
    return others.length === 0
      ? { passed: true, detail: `ran (row-level security) and returned only the tenant's ${raw.length} rows` }
      : { passed: false, detail: `ran unscoped: returned ${others.length} rows of other tenants` };
  });
}
