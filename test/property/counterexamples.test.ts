import type { DataSourceOptions } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { ProofItem, ProofNote } from '../fixtures/proof-entities.js';
import { databaseKinds } from '../support/databases.js';
import { createProofWorld } from './proof-world.js';

/**
 * Minimal reproductions of counterexamples the property tests found, kept as
 * regression tests. (Bad-input counterexamples live in bad-input.test.ts.)
 */

describe.each(databaseKinds())('counterexamples of the model-based test on %s', (kind) => {
  // Found by model.test.ts (seed 7 on postgres), shrunk to:
  //   [{ k: 'tx', t: 0, ops: [{ k: 'insert', rows: [{ label: 'a' }] }, { k: 'insertNote', via: 'saveRelation', item: { own: 0 } }], end: 'commit' }]
  // The reference check of save() read on another pooled connection, which cannot see the
  // transaction's own uncommitted insert: TenantMismatchError for the tenant's own row.
  it('inside a transaction, save() may point a relation at a row the same transaction inserted', async () => {
    const w = await createProofWorld(kind);
    try {
      const em = w.tenancy.manager(w.tenantIds[0]);
      const noteId = await em.transaction(async (tx) => {
        const { identifiers } = await tx.insert(ProofItem, { label: 'a' });
        const note = await tx.save(ProofNote, { body: 'x', item: { id: identifiers[0]!.id } as ProofItem });
        return note.id;
      });
      const note = await w.dataSource.manager.findOneByOrFail(ProofNote, { id: noteId });
      expect(note.tenantId).toBe(w.tenantIds[0]);
    } finally {
      await w.close();
    }
  });
});

describe.skipIf(!databaseKinds().includes('postgres'))('counterexamples of the model-based test on postgres (pool)', () => {
  // The same cause with every pooled connection held by transactions: the reference check waits
  // for a free connection that never comes. With a pool of 1, one transaction deadlocks.
  it('a save() with a relation inside a transaction needs no second connection (pool of 1)', { timeout: 30_000 }, async () => {
    const w = await createProofWorld('postgres', { extra: { max: 1 } } as Partial<DataSourceOptions>);
    let dropped = false;
    try {
      const em = w.tenancy.manager(w.tenantIds[0]);
      const { identifiers } = await em.insert(ProofItem, { label: 'own, committed' });
      const saving = em.transaction((tx) => tx.save(ProofNote, { body: 'x', item: { id: identifiers[0]!.id } as ProofItem }));
      const outcome = await Promise.race([
        saving.then(
          () => 'saved',
          (error: unknown) => `failed: ${String(error)}`,
        ),
        new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 5 s: deadlocked on the pool'), 5_000)),
      ]);
      if (outcome !== 'saved') {
        // Free the held connection (DROP DATABASE ... WITH (FORCE) ends it) so the DataSource can close.
        await w.db.drop();
        dropped = true;
        await saving.catch(() => undefined);
      }
      expect(outcome).toBe('saved');
    } finally {
      if (dropped) await w.dataSource.destroy().catch(() => undefined);
      else await w.close();
    }
  });
});
