import type { EntityManager, ObjectLiteral } from 'typeorm';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { TenantId } from '../scoping/tenant-key.js';
import type { RawAccess, RawRow } from './raw.js';
import { entityKey, normalize, rawKey } from './rows.js';
import type { SchemaFacts } from './schema.js';
import type { IsolationProbe, NotProbed, TenancyUnderTest, TenantLabel } from './types.js';

/** What a probe found. */
export interface Outcome {
  passed: boolean;
  detail: string;
}

/** The seeded rows of one entity per tenant, raw, in primary key order. */
export interface TenantRows {
  a: RawRow[];
  b: RawRow[];
}

/** Error text for a report: the error's class and the start of its message. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.name}${typeof code === 'string' ? ` (${code})` : ''}: ${error.message.split('\n')[0]!.slice(0, 240)}`;
  }
  return String(error);
}

/** The error's stable typeorm-tenancy code (works across copies of the package), if it is a TenancyError. */
export function tenancyCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('TENANCY_') ? code : undefined;
}

/** State shared by the probes of one run. */
export class ProbeContext {
  readonly probes: IsolationProbe[] = [];
  readonly notProbed: NotProbed[] = [];
  /** Rows of each scoped entity the run seeded, per tenant. */
  readonly rows = new Map<EntityMetadata, TenantRows>();
  /** Rows of shared entities the run created (removed at the end). */
  readonly shared = new Map<EntityMetadata, RawRow>();
  readonly #otherKeys = new Map<EntityMetadata, Set<string>>();

  constructor(
    readonly facts: SchemaFacts,
    readonly raw: RawAccess,
    readonly tenancy: TenancyUnderTest,
    readonly tenants: Record<TenantLabel, TenantId>,
  ) {}

  manager(label: TenantLabel): EntityManager {
    return this.tenancy.manager(this.tenants[label]);
  }

  /** Keys of tenant b's seeded rows of an entity. */
  otherKeys(metadata: EntityMetadata): Set<string> {
    let keys = this.#otherKeys.get(metadata);
    if (!keys) {
      keys = new Set((this.rows.get(metadata)?.b ?? []).map((r) => rawKey(metadata, r)));
      this.#otherKeys.set(metadata, keys);
    }
    return keys;
  }

  /**
   * Everything in `values` (entities of `metadata`, with whatever relations and
   * relation ids they loaded) that is not tenant a's: rows seeded for tenant b, or
   * rows whose tenant column names another tenant.
   */
  foreign(metadata: EntityMetadata, values: unknown): string[] {
    const found: string[] = [];
    const seen = new Set<object>();
    const own = normalize(this.tenants.a);
    const visit = (m: EntityMetadata, value: unknown): void => {
      if (value === null || value === undefined || typeof value !== 'object' || value instanceof Promise) return;
      if (Array.isArray(value)) {
        for (const item of value) visit(m, item);
        return;
      }
      if (seen.has(value)) return;
      seen.add(value);
      const entity = value as ObjectLiteral;
      const scoped = this.facts.scoped.get(m);
      if (scoped) {
        const key = entityKey(m, entity);
        const tenant: unknown = scoped.column.getEntityValue(entity);
        const otherTenant = tenant !== undefined && tenant !== null && normalize(tenant) !== own;
        if (otherTenant || this.otherKeys(m).has(key)) {
          found.push(`${m.name} ${key} of tenant ${otherTenant ? normalize(tenant) : normalize(this.tenants.b)}`);
        }
      }
      for (const relation of m.relations) {
        // A lazy relation not loaded yet stays unloaded: reading the property would load it.
        const loaded: unknown = relation.isLazy ? entity[`__${relation.propertyName}__`] : relation.getEntityValue(entity);
        visit(relation.inverseEntityMetadata, loaded);
      }
      for (const relationId of m.relationIds) {
        // An owning to-one relation's id is the row's own foreign key column, not a lookup in another table.
        if (relationId.relation.isManyToOne || relationId.relation.isOneToOneOwner) continue;
        found.push(...this.foreignIds(relationId.relation.inverseEntityMetadata, entity[relationId.propertyName], `${m.name}.${relationId.propertyName}`));
      }
    };
    visit(metadata, values);
    return found;
  }

  /** Ids (as `@RelationId` or `loadRelationIdAndMap` give them) of tenant b's rows of `target`. */
  foreignIds(target: EntityMetadata, ids: unknown, where: string): string[] {
    if (!this.facts.scoped.has(target) || ids === undefined || ids === null) return [];
    const keys = this.otherKeys(target);
    return (Array.isArray(ids) ? ids : [ids])
      .map((id) => (id !== null && typeof id === 'object' ? entityKey(target, id as ObjectLiteral) : normalize(id)))
      .filter((key) => keys.has(key))
      .map((key) => `${where} holds ${target.name} ${key} of tenant ${normalize(this.tenants.b)}`);
  }

  /** Runs one probe and records it; a probe that throws fails with the error. */
  async probe(entity: string, name: string, fn: () => Promise<Outcome>): Promise<void> {
    let outcome: Outcome;
    try {
      outcome = await fn();
    } catch (error) {
      outcome = { passed: false, detail: `could not check, threw ${describeError(error)}` };
    }
    this.probes.push({ name, entity, passed: outcome.passed, detail: outcome.detail });
  }

  skip(entity: string, reason: string, probe?: string): void {
    this.notProbed.push(probe === undefined ? { entity, reason } : { entity, probe, reason });
  }
}

/** A read outcome: passes when nothing foreign was seen. */
export function unseen(found: string[], detail: string): Outcome {
  if (found.length === 0) return { passed: true, detail };
  const shown = found.slice(0, 4).join('; ');
  return { passed: false, detail: `returned the other tenant's rows: ${shown}${found.length > 4 ? `; and ${found.length - 4} more` : ''}` };
}
