import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { byHostname, TenancyModule, tenancyDataSourceFactory } from '../../src/integrations/nestjs/index.js';
import { kvDataSourceOptions } from '../kv-server/database.js';
import { Entry, Tenant } from '../kv-server/entities.js';
import { KvController } from './kv.controller.js';
import { KvService } from './kv.service.js';

@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      useFactory: () => kvDataSourceOptions('.tmp/nest-app.sqlite'),
      // new DataSource(options), new Tenancy(dataSource) before initialize(), then initialize().
      dataSourceFactory: tenancyDataSourceFactory(), // defaultManager: 'context'
    }),
    TypeOrmModule.forFeature([Entry]),
    // The tenant is the Host header (with port), looked up in the tenants table.
    TenancyModule.forRootAsync({
      inject: [DataSource],
      useFactory: (dataSource: DataSource) => ({
        resolve: byHostname(async (host) => (await dataSource.manager.findOneBy(Tenant, { host }))?.id, { port: true }),
      }),
    }),
  ],
  controllers: [KvController],
  providers: [KvService],
})
export class AppModule {}
