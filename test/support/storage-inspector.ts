import type { DataSource, EntityManager, EntityTarget, FindManyOptions, FindOneOptions, FindOptionsWhere, ObjectLiteral } from 'typeorm';

/**
 * A plain (unscoped) view over every storage of a world — one table set for the
 * row layout, one per tenant schema, database or shard otherwise — for a test to
 * seed and inspect rows without going through the code under test. Reads visit
 * the storages in order and concatenate (sum for counts).
 */
export class StorageInspector {
  constructor(readonly storages: readonly DataSource[]) {}

  get #managers(): EntityManager[] {
    return this.storages.map((s) => s.manager);
  }

  async find<E extends ObjectLiteral>(entity: EntityTarget<E>, options?: FindManyOptions<E>): Promise<E[]> {
    const rows: E[] = [];
    for (const m of this.#managers) rows.push(...(await m.find(entity, options)));
    return rows;
  }

  async count<E extends ObjectLiteral>(entity: EntityTarget<E>, options?: FindManyOptions<E>): Promise<number> {
    let total = 0;
    for (const m of this.#managers) total += await m.count(entity, options);
    return total;
  }

  countBy<E extends ObjectLiteral>(entity: EntityTarget<E>, where: FindOptionsWhere<E> | FindOptionsWhere<E>[]): Promise<number> {
    return this.count(entity, { where });
  }

  async findOne<E extends ObjectLiteral>(entity: EntityTarget<E>, options: FindOneOptions<E>): Promise<E | null> {
    for (const m of this.#managers) {
      const row = await m.findOne(entity, options);
      if (row) return row;
    }
    return null;
  }

  findOneBy<E extends ObjectLiteral>(entity: EntityTarget<E>, where: FindOptionsWhere<E> | FindOptionsWhere<E>[]): Promise<E | null> {
    return this.findOne(entity, { where });
  }

  async findOneOrFail<E extends ObjectLiteral>(entity: EntityTarget<E>, options: FindOneOptions<E>): Promise<E> {
    const row = await this.findOne(entity, options);
    if (!row) throw new Error(`No ${String(typeof entity === 'function' ? entity.name : entity)} matches ${JSON.stringify(options.where)} in any storage.`);
    return row;
  }

  findOneByOrFail<E extends ObjectLiteral>(entity: EntityTarget<E>, where: FindOptionsWhere<E> | FindOptionsWhere<E>[]): Promise<E> {
    return this.findOneOrFail(entity, { where });
  }
}
