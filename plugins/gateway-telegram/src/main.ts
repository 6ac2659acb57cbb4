import { startGateway } from '@claudemesh/gateway';
import { runPlugin } from '@claudemesh/plugin';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { TelegramGatewayConfig } from './config.js';
import { createTelegramSurface } from './telegram-surface.js';

await runPlugin({
  name: 'gateway-telegram',
  version: '0.1.0',
  configSchema: TelegramGatewayConfig,
  start: (ctx) => {
    const stateDir = join(ctx.home, 'gateway', 'telegram');
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    return startGateway(ctx, createTelegramSurface(ctx.config.telegram, { log: ctx.log, stateDir }));
  },
});
