import { Global, Module, type DynamicModule } from '@nestjs/common';
import { BROKER_CONFIG, type BrokerConfig } from './broker.config.js';

@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: BrokerConfig): DynamicModule {
    return { module: ConfigModule, providers: [{ provide: BROKER_CONFIG, useValue: config }], exports: [BROKER_CONFIG] };
  }
}
