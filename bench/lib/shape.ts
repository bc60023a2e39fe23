export type DbKind = 'sqlite' | 'postgres';

/** How much data: tenants, and authors and posts per tenant. */
export interface SeedShape {
  tenants: number;
  authorsPerTenant: number;
  postsPerTenant: number;
}

export const mainShape: SeedShape = { tenants: 100, authorsPerTenant: 10, postsPerTenant: 1_000 };

// Row k (1-based) belongs to tenant ((k - 1) % T) + 1: tenants are interleaved through the heap,
// as rows of many tenants written over time are. Post k's author is one of its tenant's authors.
// So the posts of tenant t are t + T*j and its authors t + T*j (j from 0).

/** The id of the j-th seeded post (or author) of a tenant. */
export const seededId = (shape: SeedShape, tenantId: number, j: number): number => tenantId + shape.tenants * j;
