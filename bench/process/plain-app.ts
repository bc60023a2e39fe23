import { DataSource } from 'typeorm';
import { defineEntities } from '../lib/entities.js';
import { plainOps } from '../lib/ops.js';
import { main } from './app.js';

// The baseline of the whole-process mode: a plain TypeORM app that never loads typeorm-tenancy
// (app.ts reports the library's modules found in require.cache; the orchestrator fails the run
// unless there are none). It writes the tenant criterion and the tenant id by hand.

const entities = defineEntities();
main({
  side: 'plain',
  entities,
  async open(options) {
    const dataSource = await new DataSource(options).initialize();
    return { dataSource, ops: plainOps(dataSource.manager, entities) };
  },
});
