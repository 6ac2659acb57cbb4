import { Global, Module } from '@nestjs/common';
import { BROKER_CONFIG, type BrokerConfig } from '../config/broker.config.js';
import { DataSource } from 'typeorm';
import { BrokerMetrics, type WatchablePool } from './broker-metrics.js';
import { MetricsController } from './metrics.controller.js';

/** The broker's Prometheus registry, for every module to count into, and `GET /metrics`. */
@Global()
@Module({
  providers: [
    {
      provide: BrokerMetrics,
      useFactory: (config: BrokerConfig, dataSource: DataSource) => {
        const metrics = new BrokerMetrics(config.metrics);
        // TypeORM's Postgres driver keeps its pg.Pool as `master` (both databases are reached through pg).
        metrics.watchPool((dataSource.driver as unknown as { master?: WatchablePool }).master);
        return metrics;
      },
      inject: [BROKER_CONFIG, DataSource],
    },
  ],
  exports: [BrokerMetrics],
  controllers: [MetricsController],
})
export class MetricsModule {}
