import { type Command, InvalidArgumentError } from 'commander';
import type { CommandContext } from '../context.js';
import { describeError, ExitCode } from '../errors.js';
import { toJson } from '../output.js';
import { createProgress } from '../progress.js';

export function registerMigrateAllCommand(program: Command, ctx: CommandContext): void {
  program
    .command('migrate:all')
    .description("bring every tenant's storage up to date (each tenant schema or database, or each shard); one failure does not stop the others")
    .option('-c, --concurrency <n>', 'tenants migrated at the same time (default: 4)', positiveInteger)
    .option('--no-progress', 'no progress bar (it is only drawn when stderr is a terminal)')
    .option('--json', 'print the summary as JSON')
    .addHelpText('after', '\nExits with code 1 when any tenant failed. With the row strategy (shared tables) it runs the DataSource\'s migrations once.')
    .action(async (options: { concurrency?: number; progress: boolean; json?: boolean }) => {
      await ctx.withDataSource(async ({ tenancy }) => {
        const progress = createProgress(ctx.io, options.progress);
        let failedSoFar = 0;
        let summary;
        try {
          summary = await tenancy.migrateAll({
            concurrency: options.concurrency,
            onProgress: ({ done, total, ok }) => {
              if (!ok) failedSoFar++;
              progress.update(done, total, failedSoFar);
            },
          });
        } finally {
          progress.stop();
        }
        const shards = summary.shards;
        const strategy = shards ? 'shards' : (tenancy.options.strategy ?? 'row');
        const failed = summary.failed.map(({ tenant, error }) => ({ tenant, error: describeError(error) }));
        // Shards are migrated one by one (every tenant of a shard at once): reported per shard.
        const failedShards = shards?.failed.map(({ shard, error }) => ({ shard, error: describeError(error) }));
        if (options.json) {
          const shardPart = shards ? { shards: { total: shards.total, succeeded: shards.succeeded, failed: failedShards } } : {};
          ctx.io.stdout.write(`${toJson({ strategy, total: summary.total, succeeded: summary.succeeded, failed, ...shardPart })}\n`);
        } else if (shards) {
          const lines = [`Migrated ${shards.succeeded.length} of ${shards.total} shard${shards.total === 1 ? '' : 's'}; ${shards.failed.length} failed.`];
          for (const { shard, error } of failedShards!) lines.push(`  shard ${shard}: ${error}`);
          ctx.io.stdout.write(`${lines.join('\n')}\n`);
        } else if (strategy === 'row' && summary.total === 0) {
          ctx.io.stdout.write("Ran the DataSource's pending migrations (row strategy: one set of shared tables, nothing per tenant).\n");
        } else {
          const lines = [`Migrated ${summary.succeeded.length} of ${summary.total} tenant${summary.total === 1 ? '' : 's'}; ${failed.length} failed.`];
          for (const { tenant, error } of failed) lines.push(`  tenant ${String(tenant)}: ${error}`);
          ctx.io.stdout.write(`${lines.join('\n')}\n`);
        }
        if (failed.length > 0 || (failedShards?.length ?? 0) > 0) ctx.fail(ExitCode.failed);
      });
    });
}

function positiveInteger(text: string): number {
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer.');
  return n;
}
