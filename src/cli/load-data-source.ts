import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DataSource } from 'typeorm';
import type { Tenancy } from '../tenancy.js';
import { describeError, UsageError } from './errors.js';

/** What `--data-source <module>` provided. */
export interface LoadedDataSource {
  /** Absolute path of the module. */
  readonly file: string;
  readonly dataSource: DataSource;
  readonly tenancy: Tenancy;
}

/**
 * Loads the `--data-source` module and picks its exports. The contract:
 *
 * - the module is JavaScript Node can load as it is (CommonJS or ESM; `.ts` only with a loader
 *   such as `node --import tsx`), given as a path relative to the working directory;
 * - the Tenancy: the export named `tenancy`, otherwise the only export that is a Tenancy;
 * - the DataSource: the export named `dataSource`, otherwise the default export when it is a
 *   DataSource, otherwise `tenancy.dataSource`. It must be the DataSource the Tenancy was created for.
 *
 * Named exports may also sit on a default-exported object (`export default { dataSource, tenancy }`).
 * Exports are recognized by shape, not `instanceof`, so the module may load typeorm-tenancy
 * through either `require` or `import`.
 */
export async function loadDataSource(specifier: string, cwd = process.cwd()): Promise<LoadedDataSource> {
  const file = locate(specifier, cwd);
  let namespace: Record<string, unknown>;
  try {
    namespace = await importModule(file);
  } catch (error) {
    const hint = /\.[cm]?ts$/.test(file)
      ? ' A TypeScript module needs a loader: compile it to JavaScript, or run `node --import tsx node_modules/.bin/typeorm-tenancy ...`.'
      : '';
    const reason = describeError(error).trimEnd();
    throw new UsageError(`Loading the data source module ${file} failed: ${reason}${/[.!?]$/.test(reason) ? '' : '.'}${hint}`, { cause: error });
  }
  return pickExports(namespace, file);
}

function locate(specifier: string, cwd: string): string {
  const direct = resolve(cwd, specifier);
  if (existsSync(direct) && statSync(direct).isFile()) return direct;
  try {
    // Extensionless paths (`./dist/data-source`), directories with an index, package subpaths.
    return createRequire(join(cwd, 'noop.js')).resolve(specifier.startsWith('.') || specifier.startsWith('/') ? direct : specifier);
  } catch {
    throw new UsageError(
      `Cannot find the data source module "${specifier}" (looked for ${direct}). ` +
        'Pass --data-source <path to a compiled .js/.cjs/.mjs file> relative to the working directory.',
    );
  }
}

/** CommonJS through `require` (so `-r` hooks apply), ESM through `import()`. */
async function importModule(file: string): Promise<Record<string, unknown>> {
  if (moduleKind(file) === 'commonjs') {
    try {
      return createRequire(file)(file) as Record<string, unknown>;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code !== 'ERR_REQUIRE_ESM' && code !== 'ERR_REQUIRE_ASYNC_MODULE') throw error;
    }
  }
  return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
}

function moduleKind(file: string): 'commonjs' | 'module' {
  const ext = extname(file);
  if (ext === '.mjs' || ext === '.mts') return 'module';
  if (ext === '.cjs' || ext === '.cts') return 'commonjs';
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        return (JSON.parse(readFileSync(manifest, 'utf8')) as { type?: unknown }).type === 'module' ? 'module' : 'commonjs';
      } catch {
        return 'commonjs';
      }
    }
    if (dirname(dir) === dir) return 'commonjs';
  }
}

function pickExports(namespace: Record<string, unknown>, file: string): LoadedDataSource {
  const layers: Array<{ prefix: string; values: Record<string, unknown> }> = [{ prefix: '', values: namespace }];
  const fallback = namespace.default;
  // The default export as an object of exports: CommonJS `module.exports` seen through import(),
  // or `export default { dataSource, tenancy }`.
  if (isObject(fallback) && !isDataSource(fallback) && !isTenancy(fallback)) layers.push({ prefix: 'default.', values: fallback });
  const named = (name: string) => layers.map((l) => ({ name: l.prefix + name, value: l.values[name] })).find((e) => e.value !== undefined);

  let tenancy: Tenancy;
  const namedTenancy = named('tenancy');
  if (namedTenancy) {
    if (!isTenancy(namedTenancy.value)) {
      throw new UsageError(`The export "${namedTenancy.name}" of ${file} is not a Tenancy (${describeValue(namedTenancy.value)}). Export the object new Tenancy(dataSource) returned.`);
    }
    tenancy = namedTenancy.value;
  } else {
    const found = new Map<Tenancy, string>();
    for (const layer of layers) {
      for (const [name, value] of Object.entries(layer.values)) if (isTenancy(value) && !found.has(value)) found.set(value, layer.prefix + name);
    }
    if (found.size !== 1) {
      const exportsList = layers.flatMap((l) => Object.keys(l.values).map((k) => l.prefix + k));
      throw new UsageError(
        found.size === 0
          ? `${file} exports no Tenancy (its exports: ${exportsList.length ? exportsList.join(', ') : 'none'}). ` +
              'Export it as `export const tenancy = new Tenancy(dataSource)` (CommonJS: `exports.tenancy = ...`), next to the DataSource.'
          : `${file} exports ${found.size} Tenancy objects (${[...found.values()].join(', ')}); name the one to use \`tenancy\`.`,
      );
    }
    tenancy = [...found.keys()][0]!;
  }

  const namedDataSource = named('dataSource');
  let dataSource: unknown = tenancy.dataSource;
  let source = 'tenancy.dataSource';
  if (namedDataSource) [dataSource, source] = [namedDataSource.value, `the export "${namedDataSource.name}"`];
  else if (isDataSource(fallback)) [dataSource, source] = [fallback, 'the default export'];
  if (!isDataSource(dataSource)) {
    throw new UsageError(`${source} of ${file} is not a TypeORM DataSource (${describeValue(dataSource)}).`);
  }
  if (dataSource !== tenancy.dataSource) {
    throw new UsageError(`${source} of ${file} is not the DataSource its Tenancy was created for; export the DataSource you passed to new Tenancy(...).`);
  }
  return { file, dataSource, tenancy };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** A TypeORM DataSource from any copy of typeorm (TypeORM marks its instances with `@instanceof`). */
function isDataSource(value: unknown): value is DataSource {
  if (!isObject(value)) return false;
  if (value['@instanceof'] === Symbol.for('DataSource')) return true;
  return typeof value.initialize === 'function' && typeof value.destroy === 'function' && 'isInitialized' in value && 'options' in value;
}

/** A Tenancy from any copy of typeorm-tenancy (ESM or CommonJS build). */
function isTenancy(value: unknown): value is Tenancy {
  return isObject(value) && typeof value.manager === 'function' && typeof value.migrateAll === 'function' && typeof value.verify === 'function' && isDataSource(value.dataSource);
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'function') return `a function${value.name ? ` ${value.name}` : ''}`;
  if (isObject(value)) return `an object${value.constructor?.name && value.constructor.name !== 'Object' ? ` of class ${value.constructor.name}` : ''}`;
  return `${typeof value}`;
}
