import { Global, Module } from '@nestjs/common';
import { BROKER_CONFIG, type BrokerConfig } from '../config/broker.config.js';
import { BrokerMetrics } from './broker-metrics.js';
import { MetricsController } from './metrics.controller.js';

/** The broker's Prometheus registry, for every module to count into, and `GET /metrics`. */
@Global()
@Module({
  providers: [{ provide: BrokerMetrics, useFactory: (config: BrokerConfig) => new BrokerMetrics(config.metrics), inject: [BROKER_CONFIG] }],
  exports: [BrokerMetrics],
  controllers: [MetricsController],
})
export class MetricsModule {}
