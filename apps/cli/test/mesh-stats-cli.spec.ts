import { loadMeshes, meshAnalytics, signedRequest, type CreatedApiKey, type MeshAnalytics } from '@claudemesh/core';
import { cryptoReady, parseIdentity } from '@claudemesh/crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestBroker, type TestBroker } from '../../../test/helpers/broker.js';
import { cli as runCli, json, type CliResult } from './helpers/cli.js';

const OFF = { CLAUDEMESH_DAEMON: 'off' };
const cli = (home: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> => runCli(home, args, { ...OFF, ...env });
/** A hang detector for a handful of CLI processes on a shared 2-core machine. */
const SLOW = 240_000;

/** `claudemesh mesh stats` against a real broker: the JSON is the broker's answer, the view draws it. */
describe('mesh stats from the CLI', () => {
  let tb: TestBroker;
  const homes: string[] = [];
  const home = (): string => {
    const h = mkdtempSync(join(tmpdir(), 'cmh-stats-'));
    homes.push(h);
    return h;
  };
  let olive: string;
  let bob: string;

  beforeAll(async () => {
    await cryptoReady();
    tb = await startTestBroker('embedded', { CLAUDEMESH_ANALYTICS_FLUSH_MS: '3600000' });
    olive = home();
    const created = await cli(olive, ['mesh', 'create', 'team', '--broker', tb.url, '--name', 'olive', '--plaintext-general'], { CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN });
    expect(created.code, created.stderr).toBe(0);
    // Three posts to #general over REST, with a key the owner signs for.
    const mesh = loadMeshes(olive)[0]!;
    const key = await signedRequest<CreatedApiKey>(tb.url, parseIdentity(mesh.identity), mesh.mesh_id, 'POST', `/api/v1/meshes/${mesh.mesh_id}/apikeys`, { capabilities: ['send'] });
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${tb.url}/api/v1/topics/general/messages`, { method: 'POST', headers: { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ text: `post ${i}` }) });
      expect(res.status).toBe(201);
    }
    const invite = await cli(olive, ['mesh', 'invite', '--json']);
    expect(invite.code, invite.stderr).toBe(0);
    bob = home();
    const joined = await cli(bob, ['join', json<{ link: string }>(invite).link, '--name', 'bob']);
    expect(joined.code, joined.stderr).toBe(0);
  }, SLOW);
  afterAll(async () => {
    await tb?.close();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  }, SLOW);

  it('mesh stats --json prints the broker’s MeshAnalytics answer', async () => {
    const r = await cli(olive, ['mesh', 'stats', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const got = json<MeshAnalytics>(r);
    const mesh = loadMeshes(olive)[0]!;
    const rest = await meshAnalytics(tb.url, parseIdentity(mesh.identity), mesh.mesh_id);
    // Read a moment apart: everything but the answer's time and the seconds online is the same.
    const still = (a: MeshAnalytics) => ({ ...a, to: 0, uptime: a.uptime.map((u) => ({ ...u, seconds_online: 0, percent: 0 })) });
    expect(still(got)).toEqual(still(rest));
    expect(got.totals.topic_posts).toBe(3);
    expect(got.busiest_topics).toEqual([{ name: 'general', posts: 3 }]);
  }, SLOW);

  it('mesh stats draws sparklines, the latency line, the busiest topics and the uptime table', async () => {
    const r = await cli(olive, ['mesh', 'stats', '--window', '7d']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/last 7d, per day/);
    // Seven daily buckets; today's holds all three posts, so it is the full block.
    expect(r.stdout).toMatch(/^topic posts {1,2}[ ▁▂▃▄▅▆▇]{6}█ {2}3$/m);
    expect(r.stdout).toMatch(/^messages {4}[ ]{7} {2}0$/m);
    expect(r.stdout).toMatch(/handoff \(accepted → delivered\): 0 deliveries; p50 -/);
    expect(r.stdout).toMatch(/#general\s+3/);
    expect(r.stdout).toMatch(/MEMBER\s+ONLINE\s+UPTIME\s+%/);
    expect(r.stdout).toMatch(/olive\s+no\s+0s\s+0\.0/);
    expect(r.stdout).toMatch(/bob\s+no\s+0s\s+0\.0/);
  }, SLOW);

  it('refuses a plain member before asking the broker, and a bad --window as a usage error', async () => {
    const member = await cli(bob, ['mesh', 'stats']);
    expect(member.code).toBe(1);
    expect(member.stderr).toMatch(/only its owner or an admin reads its analytics/);
    const bad = await cli(olive, ['mesh', 'stats', '--window', '1y']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--window takes 24h, 7d or 30d/);
  }, SLOW);
});
