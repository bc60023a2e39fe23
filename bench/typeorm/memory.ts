import { writeFileSync } from 'node:fs';
import { DataSource, EntityManager, type SelectQueryBuilder } from 'typeorm';
import { Tenancy } from '../../src/index.js';
import { parseFlags, plans } from '../lib/cli.js';
import { round } from '../lib/stats.js';
import { CaptureLogger, type DbKind, dataSourceOptions, plainDataSource } from './datasources.js';
import { Post } from './entities.js';
import { ensureSeeded, mainShape } from './seed.js';

export interface MemoryResult {
  kind: 'memory';
  db: DbKind;
  managers: {
    count: number;
    /** Statements sent while creating them: the target is 0. */
    statements: number;
    bytesPerTenantManager: number;
    bytesPerPlainEntityManager: number;
    nsPerTenantManager: number;
  };
  builders: {
    count: number;
    /** The list query (join, order, limit) built on a TenantEntityManager, retained. */
    bytesPerScopedBuilder: number;
    /** The same query built by hand (tenant_id in ON and WHERE) on a plain manager. */
    bytesPerPlainBuilder: number;
    /** Rendering (getQueryAndParameters) of each: bytes left behind on the builder. */
    bytesPerScopedBuilderRendered: number;
    bytesPerPlainBuilderRendered: number;
  };
}

declare const gc: (() => void) | undefined;

function collect(): number {
  if (typeof gc !== 'function') throw new Error('run with node --expose-gc');
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

/** Bytes retained per object made by `make`, over `count` objects kept alive in a preallocated array. */
function retainedBytes<T>(count: number, make: (i: number) => T): { bytes: number; keep: T[] } {
  const keep = new Array<T>(count);
  for (let i = 0; i < count; i++) keep[i] = undefined as T; // the array's own slots are allocated before the first reading
  const before = collect();
  for (let i = 0; i < count; i++) keep[i] = make(i);
  const after = collect();
  return { bytes: (after - before) / count, keep };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const db = flags.databases[0]!;
  const target = flags.target!;
  const plan = plans(flags.quick);
  await ensureSeeded(db, target, mainShape);

  const logger = new CaptureLogger();
  const plain = await plainDataSource(db, target, logger);
  const ds = new DataSource(dataSourceOptions(db, target, logger));
  const tenancy = new Tenancy(ds);
  await ds.initialize();
  const tenantOf = (i: number) => (i % mainShape.tenants) + 1;
  // Warm both paths (JIT, lazily built metadata) before measuring.
  await tenancy.manager(1).findOneBy(Post, { id: 1 });
  await plain.manager.findOneBy(Post, { id: 1, tenantId: 1 });

  const count = plan.memoryManagers;
  const statementsBefore = logger.count;
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) tenancy.manager(tenantOf(i));
  const nsPerTenantManager = Number(process.hrtime.bigint() - started) / count;
  const tenantManagers = retainedBytes(count, (i) => tenancy.manager(tenantOf(i)));
  const statements = logger.count - statementsBefore;
  tenantManagers.keep.length = 0;
  const plainManagers = retainedBytes(count, () => new EntityManager(plain));
  plainManagers.keep.length = 0;

  const builders = plan.memoryBuilders;
  const scopedBuild = (i: number) =>
    tenancy.manager(tenantOf(i)).createQueryBuilder(Post, 'post').innerJoinAndSelect('post.author', 'author').orderBy('post.id', 'ASC').limit(50);
  const plainBuild = (i: number) =>
    plain.manager
      .createQueryBuilder(Post, 'post')
      .innerJoinAndSelect('post.author', 'author', 'author.tenantId = :tenantId', { tenantId: tenantOf(i) })
      .where('post.tenantId = :tenantId', { tenantId: tenantOf(i) })
      .orderBy('post.id', 'ASC')
      .limit(50);
  const rendered = (qb: SelectQueryBuilder<Post>) => (qb.getQueryAndParameters(), qb);
  const scoped = retainedBytes(builders, scopedBuild).bytes;
  const plainBuilt = retainedBytes(builders, plainBuild).bytes;
  const scopedRendered = retainedBytes(builders, (i) => rendered(scopedBuild(i))).bytes;
  const plainRendered = retainedBytes(builders, (i) => rendered(plainBuild(i))).bytes;

  const result: MemoryResult = {
    kind: 'memory',
    db,
    managers: {
      count,
      statements,
      bytesPerTenantManager: Math.round(tenantManagers.bytes),
      bytesPerPlainEntityManager: Math.round(plainManagers.bytes),
      nsPerTenantManager: round(nsPerTenantManager),
    },
    builders: {
      count: builders,
      bytesPerScopedBuilder: Math.round(scoped),
      bytesPerPlainBuilder: Math.round(plainBuilt),
      bytesPerScopedBuilderRendered: Math.round(scopedRendered),
      bytesPerPlainBuilderRendered: Math.round(plainRendered),
    },
  };
  process.stderr.write(
    `[${db}] memory: TenantEntityManager ${result.managers.bytesPerTenantManager} B (plain EntityManager ${result.managers.bytesPerPlainEntityManager} B), ` +
      `${result.managers.nsPerTenantManager} ns to create, ${statements} statements for ${count}; ` +
      `scoped builder ${result.builders.bytesPerScopedBuilder} B vs hand-written ${result.builders.bytesPerPlainBuilder} B ` +
      `(rendered ${result.builders.bytesPerScopedBuilderRendered} B vs ${result.builders.bytesPerPlainBuilderRendered} B)\n`,
  );
  await ds.destroy();
  await plain.destroy();
  if (flags.result) writeFileSync(flags.result, JSON.stringify(result, null, 2));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
