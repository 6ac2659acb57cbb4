import { runGateway } from '@claudemesh/gateway';
import { SlackGatewayConfig } from './config.js';
import { createSlackSurface } from './slack-surface.js';

await runGateway({ surface: 'slack', configSchema: SlackGatewayConfig, create: createSlackSurface });
