import { runPlugin } from '@claudemesh/plugin';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import type { GatewayCommonConfig } from './config.js';
import { startGateway } from './gateway.js';
import type { Surface, SurfaceName } from './surface.js';

/**
 * The main of a gateway plugin: its config (the shared settings and the surface's own under
 * `surface.name`), its state directory in the instance's home, the surface made from its settings.
 */
export async function runGateway<K extends SurfaceName, C extends GatewayCommonConfig & Record<K, unknown>>(o: {
  surface: K;
  configSchema: z.ZodType<C>;
  create: (settings: C[K], opts: { log(line: string): void; stateDir: string }) => Surface;
}): Promise<void> {
  await runPlugin({
    name: `gateway-${o.surface}`,
    version: '0.1.0',
    configSchema: o.configSchema,
    start: (ctx) => {
      const stateDir = join(ctx.home, 'gateway', o.surface);
      mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      return startGateway(ctx, o.create(ctx.config[o.surface], { log: ctx.log, stateDir }));
    },
  });
}
