import { defineConfig } from 'tsdown';

export default defineConfig({
  // One entry per package.json `exports` subpath: `.` → dist/index.*, `./express` → dist/express.*,
  // `./nestjs` → dist/nestjs.*. Code they share lands in a shared chunk, so `Tenancy` and the
  // errors are one class whichever entry loads them.
  entry: {
    index: 'src/index.ts',
    express: 'src/integrations/express.ts',
    nestjs: 'src/integrations/nestjs/index.ts',
    // `./testing` → dist/testing.*: the isolation probe kit for users' own test suites.
    testing: 'src/testing/index.ts',
    // The `typeorm-tenancy` binary (package.json `bin` → dist/cli.cjs; starts with #!/usr/bin/env node).
    cli: 'src/cli/main.ts',
  },
  format: ['esm', 'cjs'],
  platform: 'node',
  target: 'node20',
  // .mjs/.cjs/.d.mts/.d.cts whatever package.json `type` says, to match `exports`.
  fixedExtension: true,
  // Also carries experimentalDecorators/emitDecoratorMetadata to oxc, so `__decorateMetadata` is emitted.
  tsconfig: 'tsconfig.build.json',
  dts: true,
  sourcemap: true,
  clean: true,
  deps: {
    // The host ORM and drivers are the user's copies: bundling them would break `instanceof`
    // and metadata storage. Peer dependencies are external anyway; listed here to be explicit.
    neverBundle: [/^typeorm(\/|$)/, 'reflect-metadata', 'pg', 'better-sqlite3', 'express', /^@nestjs\//, 'rxjs'],
    // Fail the build if anything else from node_modules would be inlined.
    onlyBundle: [],
  },
});
