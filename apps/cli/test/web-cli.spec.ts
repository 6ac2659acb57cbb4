import { exchangeWebSignIn } from '@claudemesh/core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestBroker, type TestBroker } from '../../../test/helpers/broker.js';
import { cli, json, type CliResult } from './helpers/cli.js';

const direct = { CLAUDEMESH_DAEMON: 'off' };

interface WebOut {
  link: string;
  link_expires_at: number;
  key_id: string;
  key_expires_at: number;
  display_name: string;
  capabilities: string[];
  topics: string[] | null;
  opened: boolean;
}

/**
 * `claudemesh web` (docs/web.md "Sign in"): a narrow key sealed under a one-time link. What the
 * browser then does with the link is apps/web/test/browser.e2e.spec.ts'; here, what the CLI makes.
 */
describe('claudemesh web', () => {
  let tb: TestBroker;
  const homes: string[] = [];
  const home = (): string => {
    const h = mkdtempSync(join(tmpdir(), 'cmh-web-'));
    homes.push(h);
    return h;
  };
  let alice: string;
  let bob: string;
  const ok = async (h: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> => {
    const r = await cli(h, args, { ...direct, ...env });
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    alice = home();
    bob = home();
    await ok(alice, ['mesh', 'create', 'web-cli', '--broker', tb.url, '--name', 'alice', '--plaintext-general'], { CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN });
    const { link } = json<{ link: string }>(await ok(alice, ['mesh', 'invite', '--json']));
    await ok(bob, ['join', link, '--name', 'bob']);
  }, 120_000);
  afterAll(async () => {
    await tb?.close();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  });

  it('prints a one-time link to a read/send key of 7 days that signs in as you, once', async () => {
    const out = json<WebOut>(await ok(bob, ['web', '--json']));
    expect(out.link).toMatch(new RegExp(`^${tb.url}/#/signin\\?code=[A-Za-z0-9_-]{43}$`));
    expect(out).toMatchObject({ display_name: 'bob', capabilities: ['read', 'send'], topics: null, opened: false });
    expect(out.key_expires_at - Date.now()).toBeGreaterThan(7 * 86_400_000 - 120_000);
    expect(out.link_expires_at - Date.now()).toBeLessThanOrEqual(600_000);
    const code = out.link.split('code=')[1]!;
    const { apiKey } = await exchangeWebSignIn(tb.url, code);
    const me = (await (await fetch(`${tb.url}/api/v1/me`, { headers: { authorization: `Bearer ${apiKey}` } })).json()) as { member: { display_name: string }; key: { id: string } };
    expect(me.member.display_name).toBe('bob');
    expect(me.key.id).toBe(out.key_id);
    await expect(exchangeWebSignIn(tb.url, code)).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
  });

  it('narrows on request (--read-only, --topics, --ttl) and says how to revoke, without --json', async () => {
    const r = await ok(bob, ['web', '--read-only', '--topics', 'general', '--ttl', '2h', '--print']);
    expect(r.stdout.trim()).toMatch(/^http:\/\/.+\/#\/signin\?code=[A-Za-z0-9_-]{43}$/);
    expect(r.stderr).toMatch(/one-time link/);
    expect(r.stderr).toMatch(/read on #general/);
    expect(r.stderr).toMatch(/claudemesh apikey revoke [0-9a-f]{16}/);
    const keys = json<Array<{ id: string; label: string; capabilities: string[]; topics: string[] | null; expires_at: number }>>(await ok(bob, ['apikey', 'list', '--json']));
    const key = keys.find((k) => r.stderr.includes(k.id))!;
    expect(key).toMatchObject({ capabilities: ['read'], topics: ['general'] });
    expect(key.label).toMatch(/^web sign-in /);
    expect(key.expires_at - Date.now()).toBeLessThanOrEqual(2 * 3600_000);
  });

  it('enrols a new human for the owner with --human, and refuses that to a member', async () => {
    const out = json<WebOut>(await ok(alice, ['web', '--human', 'dana', '--json']));
    expect(out.display_name).toBe('dana');
    const refused = await cli(bob, ['web', '--human', 'erin', '--json'], direct);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/only an owner or admin/);
  });

  it('gives the owner\'s browser the admin capability with --admin, and refuses it to a member', async () => {
    const out = json<WebOut>(await ok(alice, ['web', '--admin', '--json']));
    expect([...out.capabilities].sort()).toEqual(['admin', 'read', 'send']);
    const refused = await cli(bob, ['web', '--admin', '--json'], direct);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/only an owner or admin .* gives a browser the admin capability/);
    const both = await cli(alice, ['web', '--admin', '--human', 'gus', '--json'], direct);
    expect(both.code).toBe(2);
  });
});
