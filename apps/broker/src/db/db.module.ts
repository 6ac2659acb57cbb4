import { Global, Module, type DynamicModule } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** Provides the DataSource opened (and migrated) by main.ts before Nest starts. */
@Global()
@Module({})
export class DbModule {
  static forRoot(dataSource: DataSource): DynamicModule {
    return { module: DbModule, providers: [{ provide: DataSource, useValue: dataSource }], exports: [DataSource] };
  }
}
