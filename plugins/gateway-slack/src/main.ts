import { startGateway } from '@claudemesh/gateway';
import { runPlugin } from '@claudemesh/plugin';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SlackGatewayConfig } from './config.js';
import { createSlackSurface } from './slack-surface.js';

await runPlugin({
  name: 'gateway-slack',
  version: '0.1.0',
  configSchema: SlackGatewayConfig,
  start: (ctx) => {
    const stateDir = join(ctx.home, 'gateway', 'slack');
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    return startGateway(ctx, createSlackSurface(ctx.config.slack, { log: ctx.log, stateDir }));
  },
});
