import { randomBytes } from 'node:crypto';
import { DataSource, type DataSourceOptions, type Logger } from 'typeorm';
import { Tenancy, type TenancyOptions } from '../../src/index.js';
import { adminQuery } from './databases.js';

/**
 * Creates a LOGIN role with a random password and returns `databaseUrl` with that role's
 * credentials. The password matters: a server may ask for one (the embedded PostgreSQL the
 * tests start without PG_TEST_URL uses password authentication); a trusting server ignores it.
 */
export async function createLoginRole(role: string, attributes: string, databaseUrl: string): Promise<string> {
  return (await createLoginRoleWithPassword(role, attributes, databaseUrl)).url;
}

/** A LOGIN role's name and password, as a connection pooler in front of the server needs them. */
export interface LoginRole {
  name: string;
  password: string;
}

/** {@link createLoginRole}, also returning the role's password. */
export async function createLoginRoleWithPassword(role: string, attributes: string, databaseUrl: string): Promise<LoginRole & { url: string }> {
  const password = randomBytes(12).toString('hex');
  await adminQuery(`CREATE ROLE ${role} LOGIN PASSWORD '${password}' ${attributes}`);
  const url = new URL(databaseUrl);
  url.username = role;
  url.password = password;
  return { name: role, password, url: url.toString() };
}

/**
 * Creates the role an application connects as under row-level security: LOGIN NOSUPERUSER
 * NOBYPASSRLS (policies apply to it), with DML on the tables and sequences that `owner`'s
 * database has now. Returns the connection URL as that role. Drop it after the database.
 */
export async function createAppRole(owner: DataSource, role: string): Promise<string> {
  const url = await createLoginRole(role, 'NOSUPERUSER NOBYPASSRLS', (owner.options as { url?: string }).url ?? '');
  await owner.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
  await owner.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`);
  await owner.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
  return url;
}

/**
 * An app role (LOGIN, no BYPASSRLS) and a NOLOGIN BYPASSRLS role granted to it (the `bypassRole`
 * layout), with DML on `owner`'s tables for both; returns the app role's connection URL.
 */
export async function createAppAndBypassRoles(owner: DataSource, appRole: string, bypassRole: string): Promise<string> {
  const url = await createLoginRole(appRole, 'NOSUPERUSER NOBYPASSRLS', (owner.options as { url?: string }).url ?? '');
  await adminQuery(`CREATE ROLE ${bypassRole} NOLOGIN BYPASSRLS`);
  await adminQuery(`GRANT ${bypassRole} TO ${appRole}`);
  await owner.query(`GRANT USAGE ON SCHEMA public TO ${appRole}`);
  await owner.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${appRole}, ${bypassRole}`);
  await owner.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${appRole}`);
  return url;
}

/** An application DataSource under row-level security, as the tests run it. */
export interface RlsApp {
  app: DataSource;
  tenancy: Tenancy;
  appRole: string;
  /** Set when `bypass` was asked for: the BYPASSRLS role `{ safe: false }` switches to, or logs in as. */
  bypassRole?: string;
  /** Destroys the app DataSource and drops the roles (their grants first); the owner's database stays. */
  close(): Promise<void>;
}

/**
 * Creates an app role (and, with `bypass`, a BYPASSRLS role), connects as it with a Tenancy
 * under `rowLevelSecurity`, and installs the policies as `owner`. `bypass: true` (or 'role'):
 * a NOLOGIN role granted to the app role (`bypassRole`); 'login': a LOGIN role the app role is
 * not a member of (`bypassLogin`), as the README recommends.
 */
export async function startRlsApp(
  owner: DataSource,
  options: {
    entities: DataSourceOptions['entities'];
    prefix: string;
    bypass?: boolean | 'role' | 'login';
    extra?: Record<string, unknown>;
    logger?: Logger;
    /** Connect through another port of this host (a PgBouncer in front of the server), given the login roles (with their passwords) once they exist. */
    port?: (roles: LoginRole[]) => Promise<number>;
    /** More Tenancy options (rowLevelSecurity and defaultManager are the helper's). */
    tenancy?: Omit<TenancyOptions, 'rowLevelSecurity' | 'defaultManager'>;
  },
): Promise<RlsApp> {
  const suffix = randomBytes(4).toString('hex');
  const appRole = `${options.prefix}_${suffix}`;
  const bypassRole = options.bypass ? `${options.prefix}_bypass_${suffix}` : undefined;
  let app: DataSource | undefined;
  const roles = [appRole, bypassRole].filter(Boolean).join(', ');
  const close = async () => {
    if (app?.isInitialized) await app.destroy();
    // Their grants live in the owner's database: revoked there, so the roles can go now.
    await owner.query(`DROP OWNED BY ${roles}`).catch(() => undefined);
    await adminQuery(`DROP ROLE IF EXISTS ${appRole}`);
    if (bypassRole) await adminQuery(`DROP ROLE IF EXISTS ${bypassRole}`);
  };
  try {
    let url = await createAppRole(owner, appRole);
    let bypassPassword: string | undefined;
    const login = options.bypass === 'login';
    if (bypassRole) {
      if (login) bypassPassword = (await createLoginRoleWithPassword(bypassRole, 'NOSUPERUSER BYPASSRLS', url)).password;
      else await adminQuery(`CREATE ROLE ${bypassRole} NOLOGIN NOSUPERUSER BYPASSRLS`);
      if (!login) await adminQuery(`GRANT ${bypassRole} TO ${appRole}`);
      else await owner.query(`GRANT USAGE ON SCHEMA public TO ${bypassRole}`);
      await owner.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${bypassRole}`);
      await owner.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${bypassRole}`);
    }
    if (options.port) {
      const viaPort = new URL(url);
      const logins: LoginRole[] = [{ name: appRole, password: decodeURIComponent(new URL(url).password) }];
      if (bypassRole && bypassPassword !== undefined) logins.push({ name: bypassRole, password: bypassPassword });
      viaPort.port = String(await options.port(logins));
      url = viaPort.toString();
    }
    app = new DataSource({ type: 'postgres', url, entities: options.entities, extra: options.extra, logger: options.logger, logging: !!options.logger });
    const rowLevelSecurity = !bypassRole ? true : login ? { bypassLogin: { username: bypassRole, password: bypassPassword } } : { bypassRole };
    const tenancy = new Tenancy(app, { ...options.tenancy, rowLevelSecurity, defaultManager: 'unscoped' });
    await app.initialize();
    const runner = owner.createQueryRunner();
    await tenancy.rls.install(runner);
    await runner.release();
    return { app, tenancy, appRole, bypassRole, close };
  } catch (error) {
    await close();
    throw error;
  }
}
