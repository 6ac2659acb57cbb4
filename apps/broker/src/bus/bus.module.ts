import { Global, Module } from '@nestjs/common';
import { BUS } from './bus.js';
import { InProcessBus } from './in-process.bus.js';

@Global()
@Module({ providers: [{ provide: BUS, useClass: InProcessBus }], exports: [BUS] })
export class BusModule {}
