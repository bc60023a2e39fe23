import type { EntityTarget, FindManyOptions, ObjectLiteral } from 'typeorm';
import { type Outcome, type ProbeContext, unseen } from './context.js';
import type { RelationSubject } from './poison.js';
import { normalize, whereOf } from './rows.js';

type Target = EntityTarget<ObjectLiteral>;

/**
 * Loads of one relation from tenant a's side, with a cross-tenant reference planted
 * in the database: the `relations` option, joins (selected and raw), lazy loading,
 * `@RelationId`, `loadRelationIdAndMap` and `relation().of().load*()`. None may
 * reach tenant b's rows.
 */
export async function relationProbes(ctx: ProbeContext, subject: RelationSubject): Promise<void> {
  const { metadata, relation, mainRows } = subject;
  const target = metadata.target as Target;
  const related = relation.inverseEntityMetadata;
  const path = relation.propertyPath;
  const em = ctx.manager('a');
  // From a shared entity: the row created for the run; from a scoped one: every row of the tenant.
  const where = subject.shared ? whereOf(metadata, mainRows[0]!) : undefined;
  const options = { where, withDeleted: true } as FindManyOptions<ObjectLiteral>;
  const qb = (alias = 'm') => {
    const builder = em.createQueryBuilder(target, alias).withDeleted();
    return where ? builder.where(where) : builder;
  };
  const probe = (name: string, fn: () => Promise<Outcome>) => ctx.probe(metadata.name, `${name} [${path} → ${related.name}]`, fn);
  const none = (values: unknown, detail: string) => unseen(ctx.foreign(metadata, values), detail);

  const nested = path.split('.').reduceRight<unknown>((inner, key) => ({ [key]: inner }), true) as FindManyOptions<ObjectLiteral>['relations'];
  await probe(`find({ relations: { ${path}: true } })`, async () => none(await em.find(target, { ...options, relations: nested }), 'no row of the other tenant loaded'));
  await probe(`createQueryBuilder().leftJoinAndSelect('m.${path}')`, async () =>
    none(await qb().leftJoinAndSelect(`m.${path}`, 'r').getMany(), 'no row of the other tenant joined'),
  );
  const tenantColumn = ctx.facts.scoped.get(related)!.column;
  await probe(`createQueryBuilder().innerJoin('m.${path}').getRawMany()`, async () => {
    const raw = await qb().innerJoin(`m.${path}`, 'r').select(`r.${tenantColumn.propertyPath}`, 'tenant').getRawMany<{ tenant: unknown }>();
    const others = raw.filter((r) => normalize(r.tenant) !== normalize(ctx.tenants.a));
    return others.length === 0
      ? { passed: true, detail: `${raw.length} joined rows, all the tenant's own` }
      : { passed: false, detail: `joined ${others.length} rows of tenants ${[...new Set(others.map((r) => normalize(r.tenant)))].join(', ')}` };
  });
  if (relation.isLazy) {
    await probe('lazy relation (await entity.relation)', async () => {
      const entities = await em.find(target, options);
      const loaded: unknown[] = [];
      for (const entity of entities) loaded.push(await (entity as Record<string, unknown>)[relation.propertyName]);
      return unseen(ctx.foreign(related, loaded), 'no row of the other tenant loaded');
    });
  }
  // Ids of an owning to-one relation are the row's own foreign key column, read from the row itself:
  // only ids TypeORM looks up in another table (one-to-many, inverse one-to-one, many-to-many) are probed.
  const idsFromRow = relation.isManyToOne || relation.isOneToOneOwner;
  for (const relationId of idsFromRow ? [] : metadata.relationIds.filter((r) => r.relation === relation)) {
    await probe(`@RelationId ${relationId.propertyName}`, async () => {
      const entities = await em.find(target, options);
      const found = entities.flatMap((e) => ctx.foreignIds(related, (e as Record<string, unknown>)[relationId.propertyName], `${metadata.name}.${relationId.propertyName}`));
      return unseen(found, "no id of the other tenant's rows");
    });
  }
  if (!idsFromRow) await probe(`createQueryBuilder().loadRelationIdAndMap('m.ids', 'm.${path}')`, async () => {
    const entities = await qb().loadRelationIdAndMap('m.__tenancyProbeIds', `m.${path}`).getMany();
    const found = entities.flatMap((e) => ctx.foreignIds(related, (e as Record<string, unknown>).__tenancyProbeIds, `loadRelationIdAndMap(${path})`));
    return unseen(found, "no id of the other tenant's rows");
  });
  await probe(`createQueryBuilder().relation('${path}').of(row).${relation.isManyToOne || relation.isOneToOne ? 'loadOne' : 'loadMany'}()`, async () => {
    const loaded: unknown[] = [];
    for (const row of mainRows) {
      const builder = em.createQueryBuilder().relation(target, path).of(whereOf(metadata, row));
      loaded.push(relation.isManyToOne || relation.isOneToOne ? await builder.loadOne() : await builder.loadMany());
    }
    return unseen(ctx.foreign(related, loaded), 'no row of the other tenant loaded');
  });
}
