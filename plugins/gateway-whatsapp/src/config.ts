import { GatewayCommon } from '@claudemesh/gateway';
import { z } from 'zod';
import { WhatsAppSurfaceConfig } from './whatsapp-surface.js';

/** The gateway-whatsapp config (docs/gateways.md §4): the settings every gateway shares, and `whatsapp`'s own. */
export const WhatsAppGatewayConfig = z.strictObject({ ...GatewayCommon, whatsapp: WhatsAppSurfaceConfig });
export type WhatsAppGatewayConfig = z.output<typeof WhatsAppGatewayConfig>;
