import { describe, expect, it } from 'vitest';
import { missingDistFiles, notesWorld, runBuilt } from './support/built-package.js';

// Checks what `npm run build` produced (test/support/build-setup.ts runs it when dist/ is stale), as a user would load it: through the package name, so the
// `exports` map is exercised too (Node resolves a package's own name from inside it).
const files = ['index.mjs', 'index.cjs', 'index.d.mts', 'index.d.cts'];
const imports = { typeorm: 'typeorm', 'typeorm-tenancy': 'lib' };

describe('built package', () => {
  it('has every file package.json exports', () => {
    expect(missingDistFiles(files), 'missing: run `npm run build`').toEqual([]);
  });

  it.each(['cjs', 'esm'] as const)('loads through %s', (system) => {
    expect(runBuilt(system, imports, 'console.log(typeof lib.Tenancy);')).toBe('function');
  });

  // A scoped query through the built package, in both module systems.
  const body = `${notesWorld}
    await ds.manager.save(Tenant, [{}, {}]);
    await tenancy.manager(1).save(Note, { text: 'one' });
    await tenancy.manager(2).save(Note, { text: 'two' });
    const mismatch = await tenancy.manager(1).insert(Note, { text: 'x', tenantId: 2 }).catch((e) => e instanceof TenantMismatchError);
    const rows = await tenancy.manager(1).find(Note);
    console.log(JSON.stringify({ rows: rows.map((r) => [r.text, r.tenantId]), mismatch }));
    await ds.destroy();`;

  it.each(['cjs', 'esm'] as const)('runs a scoped query through %s', (system) => {
    expect(runBuilt(system, imports, body)).toBe(JSON.stringify({ rows: [['one', 1]], mismatch: true }));
  });
});
