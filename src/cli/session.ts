import { CliError, describeError, UsageError } from './errors.js';
import { type LoadedDataSource, loadDataSource } from './load-data-source.js';
import type { Io } from './io.js';

/**
 * Loads the `--data-source` module, initializes its DataSource when the module did not (unless
 * `connect` is false: a command that works from the metadata alone), runs `work`, and destroys
 * the DataSource afterwards, also when `work` failed.
 */
export async function withDataSource<T>(
  modulePath: string | undefined,
  io: Io,
  work: (loaded: LoadedDataSource) => Promise<T>,
  options: { connect?: boolean } = {},
): Promise<T> {
  if (!modulePath) {
    throw new UsageError(
      "This command needs the DataSource: pass --data-source <module> (before or after the command) or set TYPEORM_TENANCY_DATA_SOURCE. See 'typeorm-tenancy --help'.",
    );
  }
  const loaded = await loadDataSource(modulePath);
  const { dataSource } = loaded;
  if (options.connect !== false) await connect(loaded);
  try {
    return await work(loaded);
  } finally {
    // Tenant databases and shards the command opened are closed in order, not cut off at exit.
    await loaded.tenancy.destroy().catch((error: unknown) => io.stderr.write(`warning: closing tenant DataSources failed: ${describeError(error)}\n`));
    if (dataSource.isInitialized) {
      await dataSource.destroy().catch((error: unknown) => io.stderr.write(`warning: closing the DataSource failed: ${describeError(error)}\n`));
    }
  }
}

/** Initializes the module's DataSource unless it already is (a command that checked its options first). */
export async function connect({ dataSource, file }: LoadedDataSource): Promise<void> {
  if (dataSource.isInitialized) return;
  try {
    await dataSource.initialize();
  } catch (error) {
    throw new CliError(`Initializing the DataSource of ${file} failed: ${describeError(error)}`, undefined, { cause: error });
  }
}
