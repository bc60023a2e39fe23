import type { Command } from 'commander';
import { CliError, UsageError } from '../errors.js';
import type { CommandContext } from '../context.js';
import { cell, table, toJson } from '../output.js';
import { missingRequiredValues, parseTenantId, tenantKeyOf, tenantValues } from '../tenant-values.js';

export function registerTenantCommands(program: Command, ctx: CommandContext): void {
  program
    .command('tenants:add')
    .description('create a tenant (its row, and its schema or database with the schema/database strategy) and print its id')
    .option('--json <values>', 'the tenant\'s values as a JSON object, e.g. \'{"name":"acme"}\'')
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText(
      'after',
      [
        '',
        'Any other --<property> <value> (or --<property>=<value>) sets that property of the tenant entity;',
        'values are converted by column type (number, boolean, JSON), use --json for anything else.',
        '',
        'Examples:',
        '  $ typeorm-tenancy --data-source dist/data-source.js tenants:add --name acme',
        '  $ typeorm-tenancy --data-source dist/data-source.js tenants:add --json \'{"name":"acme","plan":"pro"}\'',
      ].join('\n'),
    )
    .action(async (options: { json?: string }, command: Command) => {
      await ctx.withDataSource(async ({ tenancy, dataSource }) => {
        const key = tenantKeyOf(tenancy);
        const metadata = key.column.entityMetadata;
        const values = tenantValues(metadata, options.json, command.args);
        const missing = missingRequiredValues(dataSource, metadata, values);
        if (missing.length > 0) {
          const flags = missing.map((name) => `--${name} <value>`).join(' ');
          throw new UsageError(
            `${metadata.name} needs a value for ${missing.map((name) => `"${name}"`).join(', ')} (NOT NULL, no default). ` +
              `Pass ${flags}, or --json '${JSON.stringify(Object.fromEntries(missing.map((name) => [name, '…'])))}'.`,
          );
        }
        const tenant = await tenancy.tenants.create(values);
        ctx.io.stdout.write(`${String(key.column.getEntityValue(tenant))}\n`);
      });
    });

  program
    .command('tenants:list')
    .description('list the tenants, as a table or as JSON')
    .option('--json', 'print a JSON array of the tenant rows')
    .action(async (options: { json?: boolean }) => {
      await ctx.withDataSource(async ({ tenancy }) => {
        const key = tenantKeyOf(tenancy);
        const rows = (await tenancy.tenants.list()) as Array<Record<string, unknown>>;
        const id = (row: Record<string, unknown>) => key.column.getEntityValue(row) as unknown;
        rows.sort((a, b) => compareIds(id(a), id(b)));
        if (options.json) {
          ctx.io.stdout.write(`${toJson(rows)}\n`);
          return;
        }
        if (rows.length === 0) {
          ctx.io.stdout.write('No tenants.\n');
          return;
        }
        const metadataOrder = key.column.entityMetadata.columns.map((c) => c.propertyPath.split('.')[0]!);
        const headers = [...new Set([...metadataOrder, ...rows.flatMap((r) => Object.keys(r))])].filter((h) => rows.some((r) => h in r));
        ctx.io.stdout.write(table(headers, rows.map((r) => headers.map((h) => cell(r[h])))));
      });
    });

  program
    .command('tenants:remove')
    .description("remove a tenant: its row and, with the row strategy, its rows (ON DELETE CASCADE); its schema or database otherwise")
    .argument('<id>', 'the tenant id')
    .action(async (text: string) => {
      await ctx.withDataSource(async ({ tenancy, dataSource }) => {
        const key = tenantKeyOf(tenancy);
        const id = parseTenantId(text, key);
        const exists = await dataSource.manager.existsBy(key.column.entityMetadata.target, { [key.column.propertyName]: id });
        if (!exists) throw new CliError(`There is no ${key.entityName} with id ${text}.`);
        await tenancy.tenants.remove(id);
        ctx.io.stdout.write(`Removed ${key.entityName} ${text}.\n`);
      });
    });
}

function compareIds(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const [x, y] = [String(a), String(b)];
  if (/^-?\d+$/.test(x) && /^-?\d+$/.test(y)) return BigInt(x) < BigInt(y) ? -1 : BigInt(x) > BigInt(y) ? 1 : 0;
  return x < y ? -1 : x > y ? 1 : 0;
}
