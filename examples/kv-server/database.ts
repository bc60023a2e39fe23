import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { DataSourceOptions, EntityManager } from 'typeorm';
import { Entry, Tenant } from './entities.js';

/**
 * PostgreSQL when DATABASE_URL is set, else an SQLite file (SQLITE_FILE, default `defaultFile`
 * under the current directory), so that tenants added by `add-tenant` are there when the server starts.
 */
export function kvDataSourceOptions(defaultFile: string): DataSourceOptions {
  const entities = [Tenant, Entry];
  const url = process.env.DATABASE_URL;
  if (url) return { type: 'postgres', url, entities, synchronize: true };
  const file = resolve(process.env.SQLITE_FILE || defaultFile);
  mkdirSync(dirname(file), { recursive: true });
  return { type: 'better-sqlite3', database: file, entities, synchronize: true };
}

/** Adds a tenant reached under `host`, or renames the one already there. */
export async function addTenant(manager: EntityManager, host: string, name: string): Promise<Tenant> {
  const existing = await manager.findOneBy(Tenant, { host: host.toLowerCase() });
  return manager.save(Tenant, { ...existing, host: host.toLowerCase(), name });
}
