import { MeshClient, createMesh, decodeBody, issueInvite, type InboundMessage } from '@claudemesh/core';
import { cryptoReady, encodeInviteLink, generateIdentity, generateMeshKey } from '@claudemesh/crypto';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, waitFor } from '../../../test/helpers/broker.js';
import { BrokerProcess, freePort } from '../../../tools/bench/src/broker-process.js';
import { cli, json } from './helpers/cli.js';

interface DaemonInfo {
  pid: number;
  meshes: Array<{ mesh_name: string; connected: boolean; state: string; cause?: string; outbox: number }>;
}

interface Check {
  check: string;
  ok: boolean;
  detail: string;
  fix?: string;
  skipped?: boolean;
}

/**
 * The broker goes away under a user who keeps working (issue 12 item 5): sends queue at once with
 * one plain line, reads answer from the daemon's last member list marked stale or fail with exit 5
 * naming the cause, doctor names the cause, the status line says offline; and when the broker is
 * back, what was queued arrives exactly once. A real broker process, stopped and started again.
 */
describe('working while the broker is unreachable', () => {
  const dirs: string[] = [];
  const dir = (prefix: string) => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
  let broker: BrokerProcess;
  let brokerEnv: Record<string, string>;
  let port: number;
  let bobHome: string;
  let owner: MeshClient;
  const ownerInbox: InboundMessage[] = [];
  const daemonInfo = async (): Promise<DaemonInfo> => json<DaemonInfo>(await cli(bobHome, ['daemon', 'status', '--json']));

  beforeAll(async () => {
    await cryptoReady();
    port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    brokerEnv = { PORT: String(port), HOST: '127.0.0.1', CLAUDEMESH_HOME: dir('cmh-downbroker-'), ADMIN_TOKEN, BOOTSTRAP_MESH: 'off', LOG_LEVEL: 'error' };
    broker = new BrokerProcess(brokerEnv);
    await broker.start(120_000);
    const ownerId = generateIdentity();
    const meshKey = generateMeshKey();
    const created = await createMesh(url, { name: 'downmesh', owner: ownerId, displayName: 'owner', adminToken: ADMIN_TOKEN });
    const { invite } = await issueInvite(url, { meshId: created.mesh_id, meshName: 'downmesh', brokerUrl: url, issuer: ownerId });
    bobHome = dir('cmh-downbob-');
    expect((await cli(bobHome, ['join', encodeInviteLink(invite, meshKey), '--name', 'bob'])).code).toBe(0);
    owner = new MeshClient({ url: `ws://127.0.0.1:${port}/ws`, meshId: created.mesh_id, identity: ownerId, meshKey, backoff: { initialMs: 50, maxMs: 300 } });
    owner.on('message', (m) => ownerInbox.push(m));
    await owner.connect();
  });
  afterAll(async () => {
    await owner?.close();
    if (bobHome) await cli(bobHome, ['daemon', 'stop']);
    await broker?.kill();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('queues a send at once with one line, answers reads from the cache or with exit 5, says offline, and delivers exactly once when the broker is back', { timeout: 120_000 }, async () => {
    // Bob works normally first: the daemon starts, lists the members, and bob verifies the owner's key.
    expect((await cli(bobHome, ['peers'])).code).toBe(0);
    const { safety_number } = json<{ safety_number: string }>(await cli(bobHome, ['peer', 'verify', 'owner', '--json']));
    expect((await cli(bobHome, ['peer', 'verify', 'owner', '--confirm', safety_number.replace(/ /g, '')])).code).toBe(0);
    await waitFor(() => readdirSync(join(bobHome, 'cache')).some((f) => f.startsWith('presence-')), 'the presence cache');
    expect((await cli(bobHome, ['status-line'])).stdout).toBe('◇ downmesh · 2/2 online\n');

    await broker.kill('SIGTERM');
    // The daemon notices by itself; nothing has to time out first.
    for (let i = 0; i < 150 && (await daemonInfo()).meshes[0]!.state !== 'unreachable'; i++) await new Promise((r) => setTimeout(r, 100));
    const down = (await daemonInfo()).meshes[0]!;
    expect(down).toMatchObject({ state: 'unreachable', connected: false });
    expect(down.cause).toBe(`connection refused: nothing listens at http://127.0.0.1:${port}`);

    // The status line no longer shows the last online count.
    expect(await cli(bobHome, ['status-line'])).toEqual({ code: 0, stdout: '◇ downmesh · offline\n', stderr: '' });

    // A send to a verified name: one line on stdout, nothing on stderr (no key-check noise), exit 0.
    const sent = await cli(bobHome, ['send', 'owner', 'written while the broker was down']);
    expect(sent.stderr).toBe('');
    expect(sent.code).toBe(0);
    expect(sent.stdout).toMatch(/^broker unreachable; queued for owner, will deliver when it is back \(client id [0-9a-f-]{36}; why: claudemesh daemon status\)\n$/);
    // Through the command tree too, and a name in another case resolves from the last member list.
    const viaTree = await cli(bobHome, ['message', 'send', 'Owner', 'second while down', '--json'], { CLAUDEMESH_FAST: 'off' });
    expect(viaTree).toMatchObject({ code: 0, stderr: '' });
    const second = json<{ to: string; queued: boolean; client_id: string; unreachable: string }>(viaTree);
    expect(second).toMatchObject({ to: 'owner', queued: true });
    expect(second.unreachable).toContain('connection refused');
    // An unknown name in the last list is queued as typed, with a warning naming the close one.
    const typo = await cli(bobHome, ['send', 'ownr', 'never delivered']);
    expect(typo.code).toBe(0);
    expect(typo.stderr).toBe('claudemesh: no peer named "ownr" in the last member list seen; did you mean owner?; queued as typed, the broker decides when it is back\n');

    // Reads: the member list as last seen, marked stale on stderr; the JSON stays the list.
    const peers = await cli(bobHome, ['peers']);
    expect(peers.code).toBe(0);
    expect(peers.stdout).toMatch(/^owner /m);
    expect(peers.stderr).toMatch(/^claudemesh: broker unreachable \(connection refused: nothing listens at http:\/\/127\.0\.0\.1:\d+\); the member list below is as of \d{4}-\d\d-\d\dT[\d:.]+Z, presence may have changed\n$/);
    const peersJson = await cli(bobHome, ['peer', 'list', '--json'], { CLAUDEMESH_FAST: 'off' });
    expect(json<Array<{ display_name: string }>>(peersJson).map((p) => p.display_name).sort()).toEqual(['bob', 'owner']);
    expect(peersJson.stderr).toContain('broker unreachable');
    // message status needs the broker: exit 5 and the cause, through both paths.
    for (const env of [{}, { CLAUDEMESH_FAST: 'off' }] as Array<Record<string, string>>) {
      const status = await cli(bobHome, ['message', 'status', '1'], env);
      expect(status.code).toBe(5);
      expect(status.stderr).toMatch(/^claudemesh: broker unreachable \(connection refused: nothing listens at http:\/\/127\.0\.0\.1:\d+\); message status needs it/);
    }
    // The inbox answers from this machine and says so.
    const inbox = await cli(bobHome, ['inbox']);
    expect(inbox).toMatchObject({ code: 0, stdout: '(no messages)\n' });
    expect(inbox.stderr).toContain('broker unreachable (connection refused');
    // Without the daemon there is no outbox: a clear exit 5.
    const direct = await cli(bobHome, ['peers'], { CLAUDEMESH_DAEMON: 'off' });
    expect(direct.code).toBe(5);
    expect(direct.stderr).toContain(`cannot reach the broker: connection refused: nothing listens at http://127.0.0.1:${port}`);

    // doctor names the real cause, and nothing about a revoked membership.
    const doctor = await cli(bobHome, ['doctor', '--json']);
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).not.toMatch(/revoked/);
    const checks = JSON.parse(doctor.stdout) as Check[];
    expect(checks.find((c) => c.check === 'broker downmesh')?.detail).toBe(`unreachable: connection refused: nothing listens at http://127.0.0.1:${port}/readyz`);
    expect(checks.find((c) => c.check === 'session downmesh')).toMatchObject({ skipped: true });
    expect(checks.find((c) => c.check === 'daemon downmesh')?.detail).toMatch(/^unreachable since .*; 3 messages in the outbox$/);

    // The broker is back: the daemon reconnects and the queue goes out, each message exactly once.
    const firstId = /client id ([0-9a-f-]{36})/.exec(sent.stdout)![1]!;
    broker = new BrokerProcess(brokerEnv);
    await broker.start(120_000);
    const texts = () => ownerInbox.map((m) => decodeBody(m.text).text);
    await waitFor(() => texts().includes('written while the broker was down') && texts().includes('second while down'), 'the queued sends at the owner', 30_000);
    await waitFor(() => ownerInbox.length >= 2 && owner.connected, 'the owner back', 10_000);
    for (let i = 0; i < 100 && (await daemonInfo()).meshes[0]!.outbox > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect((await daemonInfo()).meshes[0]).toMatchObject({ state: 'connected', outbox: 0 });
    expect(ownerInbox.filter((m) => decodeBody(m.text).text === 'written while the broker was down').map((m) => m.clientId)).toEqual([firstId]);
    expect(ownerInbox.filter((m) => decodeBody(m.text).text === 'second while down').map((m) => m.clientId)).toEqual([second.client_id]);
    expect(texts()).not.toContain('never delivered');
    for (let i = 0; i < 100 && (await cli(bobHome, ['status-line'])).stdout.includes('offline'); i++) await new Promise((r) => setTimeout(r, 100));
    expect((await cli(bobHome, ['status-line'])).stdout).toBe('◇ downmesh · 2/2 online\n');
  });

  it('doctor tells a refused connection from DNS, TLS and a timeout, naming the URL', { timeout: 60_000 }, async () => {
    const silent: Server = createServer(() => undefined); // accepts and never answers
    const closing: Server = createServer((s) => s.destroy()); // closes every connection at once
    await Promise.all([silent, closing].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
    const closedPort = await freePort();
    const home = dir('cmh-doctor-');
    const [file] = readdirSync(join(bobHome, 'meshes'));
    const stored = JSON.parse(readFileSync(join(bobHome, 'meshes', file!), 'utf8')) as Record<string, unknown>;
    mkdirSync(join(home, 'meshes'), { mode: 0o700 });
    const write = (name: string, brokerUrl: string) => {
      const id = randomUUID();
      writeFileSync(join(home, 'meshes', `${id}.json`), JSON.stringify({ ...stored, mesh_id: id, mesh_name: name, broker_url: brokerUrl }), { mode: 0o600 });
    };
    write('refused', `http://127.0.0.1:${closedPort}`);
    write('dns', 'http://broker.nonexistent.invalid:7900');
    write('tls', `https://127.0.0.1:${(closing.address() as AddressInfo).port}`);
    write('timeout', `http://127.0.0.1:${(silent.address() as AddressInfo).port}`);
    const doctor = await cli(home, ['doctor', '--json'], { CLAUDEMESH_DAEMON: 'off' });
    silent.close();
    closing.close();
    expect(doctor.code).toBe(1);
    const checks = JSON.parse(doctor.stdout) as Check[];
    const detail = (name: string) => checks.find((c) => c.check === `broker ${name}`)?.detail ?? '';
    expect(detail('refused')).toBe(`unreachable: connection refused: nothing listens at http://127.0.0.1:${closedPort}/readyz`);
    expect(detail('dns')).toBe('unreachable: DNS: cannot resolve broker.nonexistent.invalid of http://broker.nonexistent.invalid:7900/readyz');
    expect(detail('tls')).toMatch(/^unreachable: TLS handshake with https:\/\/127\.0\.0\.1:\d+\/readyz failed: /);
    expect(detail('timeout')).toMatch(/^unreachable: timeout connecting to http:\/\/127\.0\.0\.1:\d+\/readyz$/);
    expect(doctor.stdout).not.toMatch(/revoked/);
  });
});
