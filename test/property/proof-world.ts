import { DataSource, type DataSourceOptions } from 'typeorm';
import { Tenancy, type TenancyOptions } from '../../src/index.js';
import { ProofOwner, proofEntities, ProofTenant } from '../fixtures/proof-entities.js';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from '../support/databases.js';

/**
 * One DataSource per database for a whole property-test file, with three tenants and
 * two shared owners created once. Scoped tables are emptied between runs with the
 * DataSource's own (unscoped) manager.
 */
export interface ProofWorld {
  kind: DatabaseKind;
  db: TestDatabase;
  dataSource: DataSource;
  tenancy: Tenancy;
  /** The ids of the three tenants, in creation order. */
  tenantIds: number[];
  /** The ids of the two shared owners. */
  ownerIds: number[];
  /** Deletes every row of every tenant-scoped table (raw manager). */
  reset(): Promise<void>;
  close(): Promise<void>;
}

/** `dataSource.manager` stays plain TypeORM: the raw view every check compares with. */
export const tenancyOptions: TenancyOptions = { defaultManager: 'unscoped' };

export async function createProofWorld(kind: DatabaseKind, extra?: Partial<DataSourceOptions>): Promise<ProofWorld> {
  const db = await createTestDatabase(kind);
  const dataSource = new DataSource({ ...db.options, ...extra, entities: proofEntities, synchronize: true } as DataSourceOptions);
  const tenancy = new Tenancy(dataSource, tenancyOptions);
  await dataSource.initialize();
  const m = dataSource.manager;
  const tenants = await m.save(ProofTenant, [{ name: 'acme' }, { name: 'globex' }, { name: 'initech' }]);
  const owners = await m.save(ProofOwner, [{ name: 'alice' }, { name: 'bob' }]);
  const q = (name: string) => dataSource.driver.escape(name);
  return {
    kind,
    db,
    dataSource,
    tenancy,
    tenantIds: tenants.map((t) => t.id),
    ownerIds: owners.map((o) => o.id),
    reset: async () => {
      for (const table of ['proof_notes', 'proof_items', 'proof_settings']) await m.query(`DELETE FROM ${q(table)}`);
    },
    close: async () => {
      if (dataSource.isInitialized) await dataSource.destroy();
      await db.drop();
    },
  };
}

/** The seed of a property run: TENANCY_PROPERTY_SEED, else a fixed number in CI, else random. Printed. */
export function propertySeed(name: string, fixed = 20_260_611): number {
  const given = process.env.TENANCY_PROPERTY_SEED;
  const seed = given !== undefined && given !== '' ? Number(given) : process.env.CI === 'true' ? fixed : (Math.random() * 2 ** 31) | 0;
  if (!Number.isSafeInteger(seed)) throw new Error(`TENANCY_PROPERTY_SEED must be an integer, got ${JSON.stringify(given)}`);
  console.log(`[${name}] seed ${seed} (reproduce with TENANCY_PROPERTY_SEED=${seed})`);
  return seed;
}
