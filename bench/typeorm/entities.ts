import { TenantEntity, TenantScoped } from '../../src/index.js';
import { defineEntities } from '../lib/entities.js';

// The in-process variants' classes: the benchmark schema (lib/entities.ts) with the library's decorators.
// A plain DataSource on the same classes — the hand-written baseline — maps exactly the same tables.
export const benchEntities = defineEntities({ TenantEntity, TenantScoped });
export const { Tenant, Author, Post, entities } = benchEntities;
export type Post = InstanceType<typeof Post>;
