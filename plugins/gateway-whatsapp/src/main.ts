import { startGateway } from '@claudemesh/gateway';
import { runPlugin } from '@claudemesh/plugin';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { WhatsAppGatewayConfig } from './config.js';
import { createWhatsAppSurface } from './whatsapp-surface.js';

await runPlugin({
  name: 'gateway-whatsapp',
  version: '0.1.0',
  configSchema: WhatsAppGatewayConfig,
  start: (ctx) => {
    const stateDir = join(ctx.home, 'gateway', 'whatsapp');
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    return startGateway(ctx, createWhatsAppSurface(ctx.config.whatsapp, { log: ctx.log, stateDir }));
  },
});
