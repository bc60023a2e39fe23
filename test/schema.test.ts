import 'reflect-metadata';
import { Column, DataSource, Entity, PrimaryColumn, PrimaryGeneratedColumn, Tree, TreeChildren, TreeParent } from 'typeorm';
import { afterAll, describe, expect, it } from 'vitest';
import { MissingTenantError, Tenancy, TenancyConfigError, TenantEntity, TenantScoped, type TenantRef } from '../src/index.js';
import { createTestDatabase, databaseKinds, type DatabaseKind } from './support/databases.js';

@TenantEntity()
@Entity('int_tenants')
class IntTenant {
  @PrimaryGeneratedColumn() id!: number;
}
@TenantScoped()
@Entity('int_items')
class IntItem {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
}

@Entity('big_tenants')
@TenantEntity()
class BigTenant {
  @PrimaryColumn({ type: 'bigint' }) id!: string;
}
@Entity('big_items') // decorator order reversed: @Entity above @TenantScoped
@TenantScoped({ column: 'org_id', property: 'orgId', onDelete: 'RESTRICT' })
class BigItem {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
}

@TenantEntity()
@Entity('uuid_tenants')
class UuidTenant {
  @PrimaryGeneratedColumn('uuid') id!: string;
}
@TenantScoped({ index: false })
@Entity('uuid_items')
class UuidItem {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
}

@TenantEntity()
@Entity('str_tenants')
class StrTenant {
  @PrimaryColumn({ type: 'varchar', length: 32 }) slug!: string;
}
@TenantScoped()
@Entity('str_items')
class StrItem {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
  // The class declares the column itself: scoping keeps its type, enforces NOT NULL and no updates.
  @Column({ type: 'varchar', length: 32 }) tenantId!: string;
}

interface KeyCase {
  label: string;
  entities: Function[];
  item: typeof IntItem | typeof BigItem | typeof UuidItem | typeof StrItem;
  table: string;
  column: string;
  tenants: () => Record<string, unknown>[];
  key: 'id' | 'slug';
  wrong: unknown;
  indexed: boolean;
}

const cases: KeyCase[] = [
  { label: 'integer', entities: [IntTenant, IntItem], item: IntItem, table: 'int_items', column: 'tenant_id', tenants: () => [{}, {}], key: 'id', wrong: 'abc', indexed: true },
  { label: 'bigint', entities: [BigTenant, BigItem], item: BigItem, table: 'big_items', column: 'org_id', tenants: () => [{ id: '1000000000001' }, { id: '2' }], key: 'id', wrong: 1.5, indexed: true },
  { label: 'uuid', entities: [UuidTenant, UuidItem], item: UuidItem, table: 'uuid_items', column: 'tenant_id', tenants: () => [{}, {}], key: 'id', wrong: 'not-a-uuid', indexed: false },
  { label: 'varchar', entities: [StrTenant, StrItem], item: StrItem, table: 'str_items', column: 'tenant_id', tenants: () => [{ slug: 'acme' }, { slug: 'globex' }], key: 'slug', wrong: 'x'.repeat(33), indexed: true },
];

const open: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const close of open) await close();
});

async function start(kind: DatabaseKind, entities: Function[]) {
  const db = await createTestDatabase(kind);
  const dataSource = new DataSource({ ...db.options, entities, synchronize: true } as never);
  const tenancy = new Tenancy(dataSource);
  await dataSource.initialize();
  open.push(async () => {
    if (dataSource.isInitialized) await dataSource.destroy();
    await db.drop();
  });
  return { dataSource, tenancy };
}

describe.each(databaseKinds())('schema on %s', (kind) => {
  it.each(cases)('$label tenant key: NOT NULL column of the key type, FK, index, no pending schema change, scoped reads', async (c) => {
    const { dataSource, tenancy } = await start(kind, c.entities);
    const runner = dataSource.createQueryRunner();
    try {
      const table = (await runner.getTable(c.table))!;
      const column = table.findColumnByName(c.column)!;
      expect(column.isNullable).toBe(false);
      const tenantTable = dataSource.getMetadata(c.entities[0]!);
      const keyColumn = tenantTable.primaryColumns[0]!;
      expect(dataSource.driver.normalizeType({ type: column.type })).toBe(dataSource.driver.normalizeType(keyColumn));
      const fk = table.foreignKeys.find((f) => f.columnNames.includes(c.column))!;
      expect(fk.referencedTableName).toMatch(tenantTable.tableName);
      expect(fk.onDelete).toBe(c.label === 'bigint' ? 'RESTRICT' : 'CASCADE');
      expect(table.indices.some((i) => i.columnNames[0] === c.column)).toBe(c.indexed);
      // What migration:generate and synchronize compute: nothing left to do.
      const pending = await dataSource.driver.createSchemaBuilder().log();
      expect(pending.upQueries.map((q) => q.query)).toEqual([]);
      // The column is not updatable through TypeORM metadata either.
      expect(dataSource.getMetadata(c.item).findColumnsWithPropertyPath(c.column === 'org_id' ? 'orgId' : 'tenantId')[0]?.isUpdate).toBe(false);
    } finally {
      await runner.release();
    }
    const [a, b] = await dataSource.manager.save(c.entities[0]!, c.tenants());
    const keyOf = (t: unknown) => (t as Record<string, TenantRef>)[c.key]!;
    await tenancy.manager(keyOf(a)).insert(c.item, { name: 'mine' });
    await tenancy.manager(b).insert(c.item, { name: 'theirs' });
    expect((await tenancy.manager(keyOf(a)).find(c.item)).map((i) => i.name)).toEqual(['mine']);
    expect((await tenancy.manager(keyOf(b)).find(c.item)).map((i) => i.name)).toEqual(['theirs']);
    expect(() => tenancy.manager(c.wrong as TenantRef)).toThrow(MissingTenantError);
  });
});

// Configuration mistakes: each is a TenancyConfigError naming the entity and the fix.
@TenantScoped()
@Entity('orphans')
class Orphan {
  @PrimaryGeneratedColumn() id!: number;
}
@TenantEntity()
@Entity('tenant_a')
class TenantA {
  @PrimaryGeneratedColumn() id!: number;
}
@TenantEntity()
@Entity('tenant_b')
class TenantB {
  @PrimaryGeneratedColumn() id!: number;
}
@TenantEntity()
@TenantScoped()
@Entity('self_scoped')
class SelfScoped {
  @PrimaryGeneratedColumn() id!: number;
}
@TenantScoped()
@Tree('nested-set')
@Entity('nested')
class Nested {
  @PrimaryGeneratedColumn() id!: number;
  @TreeParent() parent?: Nested;
  @TreeChildren() children!: Nested[];
}

describe('configuration errors', () => {
  const attempt = async (entities: Function[]) => {
    const dataSource = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities, synchronize: true });
    new Tenancy(dataSource);
    return dataSource.initialize().then(
      async () => {
        await dataSource.destroy();
        return undefined;
      },
      (e: unknown) => e,
    );
  };

  it('no tenant entity among the DataSource entities', async () => {
    const error = await attempt([Orphan]);
    expect(error).toBeInstanceOf(TenancyConfigError);
    expect(String((error as Error).message)).toMatch(/@TenantEntity\(\)/);
  });
  it('two tenant entities', async () => {
    expect(String(await attempt([TenantA, TenantB, Orphan]))).toMatch(/TenantA, TenantB/);
  });
  it('a tenant entity that is itself scoped', async () => {
    expect(await attempt([SelfScoped])).toBeInstanceOf(TenancyConfigError);
  });
  it('a scoped nested-set tree', async () => {
    const error = await attempt([TenantA, Nested]);
    expect(error).toBeInstanceOf(TenancyConfigError);
    expect((error as TenancyConfigError).entity).toBe('Nested');
  });
  it('new Tenancy after initialize(), and manager() before it', async () => {
    const early = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [TenantA, Orphan] });
    const tenancy = new Tenancy(early);
    expect(() => tenancy.manager(1)).toThrow(TenancyConfigError);
    await early.initialize();
    expect(() => new Tenancy(early)).toThrow(TenancyConfigError);
    await early.destroy();
  });
});
