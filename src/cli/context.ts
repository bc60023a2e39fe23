import type { ExitCode } from './errors.js';
import type { Io } from './io.js';
import type { LoadedDataSource } from './load-data-source.js';

/** What every command gets from the program: output streams, the data source, the exit code. */
export interface CommandContext {
  readonly io: Io;
  /** Loads `--data-source`, initializes it (unless `connect: false`), runs `work`, destroys it. */
  withDataSource<T>(work: (loaded: LoadedDataSource) => Promise<T>, options?: { connect?: boolean }): Promise<T>;
  /** Marks the run as failed without throwing (the output is already written). */
  fail(code?: (typeof ExitCode)[keyof typeof ExitCode]): void;
}
