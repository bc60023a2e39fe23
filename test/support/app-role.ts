import type { DataSource } from 'typeorm';
import { adminQuery } from './databases.js';

/**
 * Creates the role an application connects as under row-level security: LOGIN NOSUPERUSER
 * NOBYPASSRLS (policies apply to it), with DML on the tables and sequences that `owner`'s
 * database has now. Returns the connection URL as that role. Drop it after the database.
 */
export async function createAppRole(owner: DataSource, role: string): Promise<string> {
  await adminQuery(`CREATE ROLE ${role} LOGIN NOSUPERUSER NOBYPASSRLS`);
  await owner.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
  await owner.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`);
  await owner.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
  const options = owner.options as { url?: string };
  const url = new URL(options.url ?? '');
  url.username = role;
  url.password = '';
  return url.toString();
}
