import { GatewayCommon } from '@claudemesh/gateway';
import { z } from 'zod';
import { TelegramSurfaceConfig } from './telegram-surface.js';

/** The gateway-telegram config (docs/gateways.md §4): the settings every gateway shares, and `telegram`'s own. */
export const TelegramGatewayConfig = z.strictObject({ ...GatewayCommon, telegram: TelegramSurfaceConfig });
export type TelegramGatewayConfig = z.output<typeof TelegramGatewayConfig>;
