import { GatewayCommon, startGateway } from '@claudemesh/gateway';
import { runPlugin } from '@claudemesh/plugin';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { SlackSurfaceConfig, createSlackSurface } from './slack-surface.js';

/** The gateway-slack config (docs/gateways.md): the settings every gateway shares, and `slack`'s own. */
export const SlackGatewayConfig = z.strictObject({ ...GatewayCommon, slack: SlackSurfaceConfig });

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
