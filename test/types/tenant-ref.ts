// Type-level tests, checked by `npm run typecheck` (test/types/tsconfig.json): every
// `@ts-expect-error` line must fail to compile, or the directive itself is an error.
// Nothing here runs; the run-time checks of the same inputs are in test/property/bad-input.test.ts.
import { expectTypeOf } from 'vitest';
import type { Tenancy, TenantEntityManager, TenantId, TenantRef } from '../../src/index.js';

declare const tenancy: Tenancy;

class Tenant {
  id!: number;
  name!: string;
  size!: number; // common column names of a tenant entity stay allowed
  length!: number;
}
class KeyedBySlug {
  slug!: string;
}
declare const acme: Tenant;
declare const found: Tenant | undefined; // noUncheckedIndexedAccess: `const [acme] = await save(...)`
declare const fetched: Promise<Tenant>;
declare const anything: unknown;

// Ids and tenant entities compile.
expectTypeOf(tenancy.manager(1)).toEqualTypeOf<TenantEntityManager>();
tenancy.manager('0b6f2f6e-3c55-4c1e-9a4e-1f0c2b7d9e11');
tenancy.manager(9007199254740993n);
tenancy.manager(acme);
tenancy.manager(new KeyedBySlug());
tenancy.manager({ id: 1, name: 'acme' });
tenancy.manager(acme.id as TenantId);
expectTypeOf(tenancy.run(acme, () => 42)).toEqualTypeOf<number>();
expectTypeOf(tenancy.open(acme)).toEqualTypeOf<Promise<void>>();
expectTypeOf(tenancy.current()).toEqualTypeOf<TenantEntityManager>();
expectTypeOf<TenantId>().toMatchTypeOf<TenantRef>();

// What is never a tenant does not.
// @ts-expect-error a Date
tenancy.manager(new Date());
// @ts-expect-error possibly undefined
tenancy.manager(found);
// @ts-expect-error a promise: a forgotten await
tenancy.manager(fetched);
// @ts-expect-error null
tenancy.manager(null);
// @ts-expect-error a boolean
tenancy.manager(true);
// @ts-expect-error an array
tenancy.manager([1, 2]);
// @ts-expect-error a Set
tenancy.manager(new Set([1]));
// @ts-expect-error a function (not called)
tenancy.manager(() => 1);
// @ts-expect-error unknown input must be checked first
tenancy.manager(anything);
// @ts-expect-error run takes the same tenant types
tenancy.run(new Date(), () => 1);
// @ts-expect-error open takes the same tenant types
void tenancy.open(found);
// @ts-expect-error current() takes no tenant
tenancy.current(1);
