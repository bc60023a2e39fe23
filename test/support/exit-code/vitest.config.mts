// Used by harness.test.ts: a run whose only test fails must exit non-zero through global-setup.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: import.meta.dirname,
    include: ['fails.fixture.ts'],
    globalSetup: ['../global-setup.ts'],
  },
});
