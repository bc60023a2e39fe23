#!/usr/bin/env node
// The `typeorm-tenancy` binary (package.json `bin`, built to dist/cli.cjs).
import { runCli } from './program.js';

void runCli(process.argv).then((code) => {
  process.exitCode = code;
  // The DataSource is destroyed; anything the user's module left running (a timer, a second
  // pool) must not keep the command alive. Unref'd: an idle process exits before this fires.
  setTimeout(() => process.exit(code), 1_000).unref();
});
