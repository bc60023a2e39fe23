// npm run example:kv -- add-tenant 127.0.0.1:5000 ip    register a tenant under a Host header
// npm run example:kv                                     serve on http://127.0.0.1:5000 (PORT to change)
// SQLite file .tmp/kv-server.sqlite by default (SQLITE_FILE to change); PostgreSQL when DATABASE_URL is set.
import 'reflect-metadata';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { Tenancy } from '../../src/index.js';
import { createKvApp } from './app.js';
import { addTenant, kvDataSourceOptions } from './database.js';

async function main(argv: string[]): Promise<void> {
  const [command = 'serve', ...args] = argv;
  const dataSource = new DataSource(kvDataSourceOptions('.tmp/kv-server.sqlite'));
  const tenancy = new Tenancy(dataSource); // before initialize(): adds kv_entries.tenant_id
  await dataSource.initialize();

  if (command === 'add-tenant' && args.length === 2) {
    const tenant = await addTenant(dataSource.manager, args[0]!, args[1]!);
    console.log(`tenant ${tenant.name} (id ${tenant.id}) answers on host ${tenant.host}`);
    await dataSource.destroy();
    return;
  }
  if (command !== 'serve' || args.length > 0) {
    await dataSource.destroy();
    console.error('usage: npm run example:kv [-- add-tenant <host:port> <name>]');
    process.exitCode = 2;
    return;
  }

  const server = createServer(createKvApp(dataSource, tenancy));
  server.listen(Number(process.env.PORT ?? 5000), '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    console.log(`kv-server listening on http://127.0.0.1:${port}`);
  });
  const stop = () => server.close(() => void dataSource.destroy());
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
