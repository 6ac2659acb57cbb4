import { runGateway } from '@claudemesh/gateway';
import { TelegramGatewayConfig } from './config.js';
import { createTelegramSurface } from './telegram-surface.js';

await runGateway({ surface: 'telegram', configSchema: TelegramGatewayConfig, create: createTelegramSurface });
