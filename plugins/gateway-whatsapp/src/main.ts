import { GatewayCommon, startGateway } from '@claudemesh/gateway';
import { runPlugin } from '@claudemesh/plugin';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { WhatsAppSurfaceConfig, createWhatsAppSurface } from './whatsapp-surface.js';

/** The gateway-whatsapp config (docs/gateways.md): the settings every gateway shares, and `whatsapp`'s own. */
export const WhatsAppGatewayConfig = z.strictObject({ ...GatewayCommon, whatsapp: WhatsAppSurfaceConfig });

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
