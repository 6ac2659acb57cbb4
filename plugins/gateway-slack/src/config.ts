import { GatewayCommon } from '@claudemesh/gateway';
import { z } from 'zod';
import { SlackSurfaceConfig } from './slack-surface.js';

/** The gateway-slack config (docs/gateways.md §4): the settings every gateway shares, and `slack`'s own. */
export const SlackGatewayConfig = z.strictObject({ ...GatewayCommon, slack: SlackSurfaceConfig });
export type SlackGatewayConfig = z.output<typeof SlackGatewayConfig>;
