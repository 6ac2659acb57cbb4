import { runGateway } from '@claudemesh/gateway';
import { WhatsAppGatewayConfig } from './config.js';
import { createWhatsAppSurface } from './whatsapp-surface.js';

await runGateway({ surface: 'whatsapp', configSchema: WhatsAppGatewayConfig, create: createWhatsAppSurface });
