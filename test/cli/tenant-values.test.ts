import { BeforeInsert, Column, type EntitySubscriberInterface, EventSubscriber, CreateDateColumn, DataSource, Entity, ManyToOne, PrimaryColumn, PrimaryGeneratedColumn, VersionColumn } from 'typeorm';
import { afterAll, describe, expect, it } from 'vitest';
import { missingRequiredValues } from '../../src/cli/tenant-values.js';
import { TenantEntity } from '../../src/index.js';

// tenants:add names the values a new tenant lacks, from the metadata TypeORM built (SQLite, in memory).

@Entity('regions')
class Region {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
}

@TenantEntity()
@Entity('orgs')
class Org {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
  @Column() slug!: string;
  @Column({ default: 'free' }) plan!: string;
  @Column({ nullable: true }) note?: string;
  @Column() seats: number = 1; // a class field initializer is a value
  @CreateDateColumn() createdAt!: Date;
  @VersionColumn() version!: number;
  @ManyToOne(() => Region, { nullable: false }) region!: Region;
}

@Entity('coded')
class Coded {
  @PrimaryColumn() code!: string;
}

@Entity('keyed')
class Keyed {
  @PrimaryColumn() code!: string;
  @Column() label!: string;
  @BeforeInsert() fill() {
    this.label ??= this.code.toUpperCase();
  }
}

@EventSubscriber()
class SlugFiller implements EntitySubscriberInterface<Org> {
  listenTo() {
    return Org;
  }
  beforeInsert() {}
}

const ds = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [Region, Org, Coded, Keyed] });
await ds.initialize();
afterAll(() => ds.destroy());

describe('missingRequiredValues (tenants:add)', () => {
  const missing = (target: Function, values: Record<string, unknown>) => missingRequiredValues(ds, ds.getMetadata(target), values);

  it('names NOT NULL columns without a default or generation, and a required relation by its property', () => {
    expect(missing(Org, {})).toEqual(['name', 'slug', 'region']);
    expect(missing(Org, { name: 'acme', slug: null })).toEqual(['slug', 'region']);
    expect(missing(Org, { name: 'acme', slug: 'acme', region: { id: 1 } })).toEqual([]);
  });

  it('a primary key the application assigns is required; an entity listener that may fill values turns the check off', () => {
    expect(missing(Coded, {})).toEqual(['code']);
    expect(missing(Coded, { code: 'x' })).toEqual([]);
    // Keyed has a @BeforeInsert: the CLI cannot know what it fills, the database decides.
    expect(missing(Keyed, {})).toEqual([]);
  });

  it("so does an application subscriber with beforeInsert for the tenant entity", async () => {
    const withSubscriber = await new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [Region, Org], subscribers: [SlugFiller] }).initialize();
    expect(missingRequiredValues(withSubscriber, withSubscriber.getMetadata(Org), {})).toEqual([]);
    expect(missingRequiredValues(withSubscriber, withSubscriber.getMetadata(Region), {})).toEqual(['name']);
    await withSubscriber.destroy();
  });
});
