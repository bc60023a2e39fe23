// npm run example:nest -- add-tenant 127.0.0.1:5000 ip    register a tenant under a Host header
// npm run example:nest                                     serve on http://127.0.0.1:5000 (PORT to change)
// SQLite file .tmp/nest-app.sqlite by default (SQLITE_FILE to change); PostgreSQL when DATABASE_URL is set.
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { addTenant } from '../kv-server/database.js';
import { AppModule } from './app.module.js';

async function main(argv: string[]): Promise<void> {
  const [command = 'serve', ...args] = argv;
  if (command === 'add-tenant' && args.length === 2) {
    const context = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
    const tenant = await addTenant(context.get(DataSource).manager, args[0]!, args[1]!); // tenants are shared: no tenant needed
    console.log(`tenant ${tenant.name} (id ${tenant.id}) answers on host ${tenant.host}`);
    await context.close();
    return;
  }
  if (command !== 'serve' || args.length > 0) {
    console.error('usage: npm run example:nest [-- add-tenant <host:port> <name>]');
    process.exitCode = 2;
    return;
  }
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  await app.listen(Number(process.env.PORT ?? 5000), '127.0.0.1');
  console.log(`nest-app listening on ${(await app.getUrl()).replace('[::1]', '127.0.0.1')}`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
