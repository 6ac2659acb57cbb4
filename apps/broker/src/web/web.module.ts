import { Module } from '@nestjs/common';
import { BROKER_CONFIG, type BrokerConfig } from '../config/broker.config.js';
import { WebApp } from './web-app.js';
import { WEB_APP, WebAssetsController, WebSessionController } from './web.controller.js';
import { WebSignInsService } from './web-signins.service.js';

/** The web app's files (read once at start) and its sign-in links (docs/web.md). */
@Module({
  controllers: [WebAssetsController, WebSessionController],
  providers: [{ provide: WEB_APP, inject: [BROKER_CONFIG], useFactory: (config: BrokerConfig) => WebApp.load(config.webDir) }, WebSignInsService],
  exports: [WEB_APP, WebSignInsService],
})
export class WebModule {}
