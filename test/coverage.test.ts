import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  DeleteQueryBuilder,
  EntityManager,
  InsertQueryBuilder,
  RelationQueryBuilder,
  Repository,
  SelectQueryBuilder,
  TreeRepository,
  UpdateQueryBuilder,
} from 'typeorm';
import { describe, expect, it } from 'vitest';
import { type CoverageClassName, type CoverageEntry, coverageMarkdown, coverageTable } from '../src/coverage/coverage-table.js';
import { SoftDeleteQueryBuilder } from '../src/internal/typeorm/deep-imports.js';

// "Coverage proven, not claimed": every method TypeORM has at run time is classified in
// src/coverage/coverage-table.ts, every classification that claims a proof points at a test
// file that names the method, and docs/coverage.md is the table as it is now.

const root = join(import.meta.dirname, '..');
const docPath = join(root, 'docs', 'coverage.md');

const classes: Record<CoverageClassName, Function> = {
  EntityManager,
  Repository,
  TreeRepository,
  SelectQueryBuilder,
  InsertQueryBuilder,
  UpdateQueryBuilder,
  DeleteQueryBuilder,
  SoftDeleteQueryBuilder,
  RelationQueryBuilder,
};

/**
 * Own and inherited function-valued properties of the prototype chain, up to (not including)
 * Object.prototype, enumerable or not: no `constructor`, no `_`-prefixed names, no accessors.
 */
function methodsOf(type: Function): string[] {
  const names = new Set<string>();
  for (let proto: object | null = type.prototype as object; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === 'constructor' || name.startsWith('_')) continue;
      const descriptor = Object.getOwnPropertyDescriptor(proto, name)!;
      if (descriptor.get || descriptor.set) continue;
      if (typeof descriptor.value === 'function') names.add(name);
    }
  }
  return [...names].sort();
}

/** `name` as a whole identifier (so `find` is not proven by `findOne`). */
function names(text: string, name: string): boolean {
  return new RegExp(`(?<![\\w$])${name.replace(/\$/g, '\\$')}(?![\\w$])`).test(text);
}

const classNames = Object.keys(classes) as CoverageClassName[];

describe('coverage table', () => {
  it('lists exactly the nine classes', () => {
    expect(Object.keys(coverageTable).sort()).toEqual([...classNames].sort());
  });

  describe.each(classNames)('%s', (className) => {
    const actual = methodsOf(classes[className]);
    const table = coverageTable[className];

    it('classifies every method TypeORM has', () => {
      const unclassified = actual.filter((name) => !Object.hasOwn(table, name));
      expect(
        unclassified,
        `TypeORM's ${className} has methods nobody classified. Add each to src/coverage/coverage-table.ts ` +
          '(scoped with a proof test, refused with a proof test, or neutral with a reason), then run `npm run docs:coverage`.',
      ).toEqual([]);
    });

    it('has no stale entries', () => {
      const stale = Object.keys(table).filter((name) => !actual.includes(name));
      expect(stale, `${className} no longer has these methods: remove them from src/coverage/coverage-table.ts`).toEqual([]);
    });
  });
});

/** Proof file -> the `Class.method` entries it must prove. */
function proofsByFile(): Map<string, Array<{ className: CoverageClassName; method: string }>> {
  const byFile = new Map<string, Array<{ className: CoverageClassName; method: string }>>();
  for (const className of classNames) {
    for (const [method, entry] of Object.entries(coverageTable[className]) as Array<[string, CoverageEntry]>) {
      if (entry.status === 'neutral') continue;
      const list = byFile.get(entry.test) ?? [];
      list.push({ className, method });
      byFile.set(entry.test, list);
    }
  }
  return byFile;
}

describe('coverage proofs', () => {
  const byFile = [...proofsByFile()].sort(([a], [b]) => a.localeCompare(b));

  it('neutral entries give a reason, proofs name a test file', () => {
    for (const className of classNames) {
      for (const [method, entry] of Object.entries(coverageTable[className]) as Array<[string, CoverageEntry]>) {
        if (entry.status !== 'scoped') expect(entry.reason.trim(), `${className}.${method} needs a reason`).not.toBe('');
        if (entry.status !== 'neutral') expect(entry.test, `${className}.${method}`).toMatch(/^test\/conformance\/[\w-]+\.test\.ts$/);
      }
    }
  });

  it.each(byFile)('%s exists and names every method it proves', (file, proofs) => {
    const path = join(root, file);
    expect(existsSync(path), `${file} is the proof of ${proofs.length} methods but does not exist`).toBe(true);
    const text = readFileSync(path, 'utf8');
    const missing = [...new Set(proofs.filter((p) => !names(text, p.method)).map((p) => p.method))].sort();
    const owners = (method: string) => proofs.filter((p) => p.method === method).map((p) => p.className).join(', ');
    expect(
      missing.map((method) => `${method} (${owners(method)})`),
      `${file} is named as the proof of these methods but never mentions them: test each one there, ` +
        'or correct its entry in src/coverage/coverage-table.ts',
    ).toEqual([]);
  });
});

describe('docs/coverage.md', () => {
  it('is the current coverage table', () => {
    const expected = coverageMarkdown();
    if (process.env.UPDATE_COVERAGE_DOC === '1') {
      mkdirSync(dirname(docPath), { recursive: true });
      writeFileSync(docPath, expected);
    }
    const published = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '';
    expect(published === expected, 'docs/coverage.md is out of date with src/coverage/coverage-table.ts: run `npm run docs:coverage`').toBe(true);
  });
});
