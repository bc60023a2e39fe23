import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { quickStart } from '../examples/quick-start/quick-start.js';

const root = join(import.meta.dirname, '..');

describe('README', () => {
  it('shows the quick start exactly as examples/quick-start/quick-start.ts, and it runs', async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const source = readFileSync(join(root, 'examples/quick-start/quick-start.ts'), 'utf8')
      .replace("'../../src/index.js'; // in your app: 'typeorm-tenancy'", "'typeorm-tenancy';");
    expect(readme).toContain(source.trim());
    expect(await quickStart()).toEqual({ posts: ['Hello from acme'], alicePosts: ['Hello from acme'], all: 2 });
  });

  it('names only npm scripts that exist', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const scripts = Object.keys((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts);
    const named = [...new Set([...readme.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]!))];
    expect(named.length).toBeGreaterThan(3);
    expect(named.filter((name) => !scripts.includes(name))).toEqual([]);
  });

  it('shows the two commands', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toContain('npm install && npm run demo');
    expect(readme).toContain('npm test');
  });
});
