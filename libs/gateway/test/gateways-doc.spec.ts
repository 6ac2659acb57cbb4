import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { TelegramGatewayConfig } from '../../../plugins/gateway-telegram/src/config.js';
import { TelegramSurfaceConfig } from '../../../plugins/gateway-telegram/src/telegram-surface.js';
import { SlackGatewayConfig } from '../../../plugins/gateway-slack/src/config.js';
import { SlackSurfaceConfig } from '../../../plugins/gateway-slack/src/slack-surface.js';
import { WhatsAppGatewayConfig } from '../../../plugins/gateway-whatsapp/src/config.js';
import { WhatsAppSurfaceConfig } from '../../../plugins/gateway-whatsapp/src/whatsapp-surface.js';

/**
 * docs/gateways.md is what a new user copies: every configuration example in it must be accepted
 * by the gateway it is for — a whole plugins file by the gateway's config, a `slack:` (…) block by
 * that surface's settings.
 */
const doc = readFileSync(fileURLToPath(new URL('../../../docs/gateways.md', import.meta.url)), 'utf8');
const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parse(m[1]!) as Record<string, unknown>);
const gateways: Record<string, z.ZodType> = { 'gateway-telegram': TelegramGatewayConfig, 'gateway-slack': SlackGatewayConfig, 'gateway-whatsapp': WhatsAppGatewayConfig };
const surfaces: Record<string, z.ZodType> = { telegram: TelegramSurfaceConfig, slack: SlackSurfaceConfig, whatsapp: WhatsAppSurfaceConfig };

describe('docs/gateways.md', () => {
  it('has configuration examples that the gateways accept as written', () => {
    const checked: string[] = [];
    for (const b of blocks) {
      if (b === null || typeof b !== 'object') continue;
      for (const entry of (b['plugins'] as Array<{ plugin: string; config: unknown }> | undefined) ?? []) {
        const schema = gateways[entry.plugin];
        if (!schema) continue;
        const r = schema.safeParse(entry.config);
        expect(r.success, `${entry.plugin}: ${JSON.stringify(r.error?.issues)}`).toBe(true);
        checked.push(entry.plugin);
      }
      const keys = Object.keys(b);
      if (keys.length === 1 && surfaces[keys[0]!]) {
        const r = surfaces[keys[0]!]!.safeParse(b[keys[0]!]);
        expect(r.success, `${keys[0]}: ${JSON.stringify(r.error?.issues)}`).toBe(true);
        checked.push(keys[0]!);
      }
    }
    for (const s of Object.keys(surfaces)) expect(checked, `an example of ${s}`).toContain(s);
    expect(checked, 'the whole plugins file of §4').toContain('gateway-telegram');
  });
});
