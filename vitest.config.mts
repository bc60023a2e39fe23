// .mts: the package is CommonJS, and Vite warns when it loads an ESM config from a .ts file.
// Decorators come from tsconfig.json (experimentalDecorators, emitDecoratorMetadata), which oxc
// reads for every file in its `include`.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds dist/ when it is missing or stale (the tests of the built package need it), then
    // finds PostgreSQL.
    globalSetup: ['test/support/build-setup.ts', 'test/support/global-setup.ts'],
    // Native drivers (better-sqlite3, pg sockets) are safer in child processes than in threads.
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
