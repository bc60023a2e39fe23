import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import type { TenantEntityManager } from '../../src/index.js';
import { InjectTenantManager } from '../../src/integrations/nestjs/index.js';
import { Entry } from '../kv-server/entities.js';

/**
 * A singleton service serving every tenant: both injected objects resolve the tenant of the
 * request being handled (bound by TenancyModule's middleware), no request-scoped providers.
 */
@Injectable()
export class KvService {
  constructor(
    // A plain @nestjs/typeorm repository: scoped to the request's tenant by defaultManager 'context'.
    @InjectRepository(Entry) private readonly entries: Repository<Entry>,
    // The current request's TenantEntityManager (tenancy.current() on every call).
    @InjectTenantManager() private readonly em: TenantEntityManager,
  ) {}

  async set(key: string, value: number): Promise<void> {
    const existing = await this.entries.findOneBy({ key }); // WHERE key = ? AND tenant_id = <request's tenant>
    await this.entries.save({ ...existing, key, value }); // tenant_id stamped
  }

  async get(key: string): Promise<number | undefined> {
    return (await this.em.findOneBy(Entry, { key }))?.value;
  }

  async all(): Promise<Record<string, number>> {
    const rows = await this.em.find(Entry, { order: { key: 'ASC' } });
    return Object.fromEntries(rows.map((row) => [row.key, row.value]));
  }
}
