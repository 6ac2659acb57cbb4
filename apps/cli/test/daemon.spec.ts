import { MeshClient, createMesh, decodeBody, issueInvite, type InboundMessage } from '@claudemesh/core';
import { cryptoReady, encodeInviteLink, generateIdentity, generateMeshKey } from '@claudemesh/crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, waitFor } from '../../../test/helpers/broker.js';
import { BrokerProcess, freePort } from '../../../tools/bench/src/broker-process.js';
import { CLI, cli } from './helpers/cli.js';



interface DaemonInfo {
  running: boolean;
  pid: number;
  socket: string;
  meshes: Array<{ mesh_name: string; connected: boolean; outbox: number; unread: number }>;
}

/** The daemon against a real broker process that is stopped and restarted under it. */
describe('claudemesh daemon', () => {
  const dirs: string[] = [];
  const dir = (prefix: string) => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
  let broker: BrokerProcess;
  let brokerEnv: Record<string, string>;
  let url: string;
  let bobHome: string;
  let owner: MeshClient;
  let ownerId: ReturnType<typeof generateIdentity>;
  let meshKey: Uint8Array;
  let created: { mesh_id: string };
  const ownerInbox: InboundMessage[] = [];

  beforeAll(async () => {
    await cryptoReady();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    brokerEnv = { PORT: String(port), HOST: '127.0.0.1', CLAUDEMESH_HOME: dir('cmh-dbroker-'), ADMIN_TOKEN, BOOTSTRAP_MESH: 'off', LOG_LEVEL: 'error' };
    broker = new BrokerProcess(brokerEnv);
    await broker.start();
    ownerId = generateIdentity();
    meshKey = generateMeshKey();
    created = await createMesh(url, { name: 'dmesh', owner: ownerId, displayName: 'owner', adminToken: ADMIN_TOKEN });
    const { invite } = await issueInvite(url, { meshId: created.mesh_id, meshName: 'dmesh', brokerUrl: url, issuer: ownerId });
    bobHome = dir('cmh-dbob-');
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

  it('starts on demand, holds a warm session, and keeps what arrives in the local inbox without being asked', async () => {
    expect(JSON.parse((await cli(bobHome, ['daemon', 'status', '--json'])).stdout)).toEqual({ running: false });
    // Any verb starts it.
    expect((await cli(bobHome, ['peers'])).code).toBe(0);
    const info = JSON.parse((await cli(bobHome, ['daemon', 'status', '--json'])).stdout) as DaemonInfo;
    expect(info).toMatchObject({ running: true, meshes: [{ mesh_name: 'dmesh', connected: true, outbox: 0, unread: 0 }] });
    expect(statSync(info.socket).mode & 0o777).toBe(0o600);

    const sent = await owner.send('bob', 'arrives while no verb runs');
    // The daemon confirms it delivered as soon as it has it on disk.
    for (let i = 0; i < 100; i++) {
      const [s] = await owner.messageStatus({ messageIds: [sent.message_id] });
      if (s!.recipients[0]!.state === 'delivered') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // It keeps the status line's presence cache fresh: owner and bob (through the daemon) online.
    const { mesh_id } = JSON.parse((await cli(bobHome, ['whoami', '--json'])).stdout) as { mesh_id: string };
    const cacheFile = join(bobHome, 'cache', `presence-${mesh_id}.json`);
    await waitFor(() => existsSync(cacheFile), 'the presence cache');
    const cache = JSON.parse(readFileSync(cacheFile, 'utf8')) as { mesh_name: string; online: number; total: number };
    expect(cache).toMatchObject({ mesh_name: 'dmesh', online: 2, total: 2 });
    expect((await cli(bobHome, ['status-line'])).stdout.trim()).toBe('◇ dmesh · 2/2 online');
    const inbox = await cli(bobHome, ['inbox', '--json']);
    expect(inbox.stdout).toContain('arrives while no verb runs');
    // Status and summary stick to the daemon's session.
    expect((await cli(bobHome, ['status', 'set', 'working'])).code).toBe(0);
    expect((await cli(bobHome, ['summary', 'set', 'on the daemon'])).code).toBe(0);
    const peers = await owner.listPeers();
    expect(peers.find((p) => p.display_name === 'bob')?.sessions).toEqual([expect.objectContaining({ status: 'working', summary: 'on the daemon' })]);
  });

  it('answers a reply to a rotated session key at the member’s current session (boxed for the member from the local inbox)', async () => {
    await owner.send('bob', 'from a session about to rotate');
    for (let i = 0; i < 100 && !(await cli(bobHome, ['inbox'])).stdout.includes('about to rotate'); i++) await new Promise((r) => setTimeout(r, 50));
    const line = (await cli(bobHome, ['inbox', '--json'])).stdout.split('\n').find((l) => l.includes('about to rotate'))!;
    const oldSession = (JSON.parse(line) as { from_session: string }).from_session;
    // The owner reconnects with a fresh session key; the daemon has never seen it.
    await owner.close();
    await owner.connect();
    const before = ownerInbox.length;
    const reply = await cli(bobHome, ['send', oldSession, 'reply to the old session']);
    expect(reply.code).toBe(0);
    await waitFor(() => ownerInbox.slice(before).some((m) => decodeBody(m.text).text === 'reply to the old session'), 'the reply at the new session');
  });

  it('keeps an unacked send in its outbox across a SIGKILL and delivers it exactly once after restart', { timeout: 60_000 }, async () => {
    await broker.kill();
    const queued = await cli(bobHome, ['send', 'owner', 'written while the broker was down', '--json'], { CLAUDEMESH_SEND_WAIT_MS: '300' });
    expect(queued.code).toBe(0);
    const out = JSON.parse(queued.stdout) as { queued: boolean; client_id: string };
    expect(out.queued).toBe(true);
    const info = JSON.parse((await cli(bobHome, ['daemon', 'status', '--json'])).stdout) as DaemonInfo;
    expect(info.meshes[0]!.outbox).toBe(1);
    process.kill(info.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));

    broker = new BrokerProcess(brokerEnv);
    await broker.start();
    expect((await cli(bobHome, ['daemon', 'start'])).code).toBe(0);
    await waitFor(() => ownerInbox.some((m) => decodeBody(m.text).text === 'written while the broker was down'), 'the outbox message at the owner', 20_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(ownerInbox.filter((m) => decodeBody(m.text).text === 'written while the broker was down').map((m) => m.clientId)).toEqual([out.client_id]);
    const after = JSON.parse((await cli(bobHome, ['daemon', 'status', '--json'])).stdout) as DaemonInfo;
    expect(after.meshes[0]!.outbox).toBe(0);
  });

  it('reconnects under the new identity when a mesh file is rewritten in place (left and joined again)', { timeout: 30_000 }, async () => {
    const { mesh_id } = JSON.parse((await cli(bobHome, ['whoami', '--json'])).stdout) as { mesh_id: string };
    const carolHome = dir('cmh-dcarol-');
    const { invite } = await issueInvite(url, { meshId: created.mesh_id, meshName: 'dmesh', brokerUrl: url, issuer: ownerId });
    expect((await cli(carolHome, ['join', encodeInviteLink(invite, meshKey), '--name', 'carol'], { CLAUDEMESH_DAEMON: 'off' })).code).toBe(0);
    const online = async (name: string) => (await owner.listPeers()).find((p) => p.display_name === name)?.online ?? false;
    expect(await online('bob')).toBe(true);
    // Same file name (the mesh id), another member's keys: the daemon must notice and switch.
    copyFileSync(join(carolHome, 'meshes', `${mesh_id}.json`), join(bobHome, 'meshes', `${mesh_id}.json`));
    for (let i = 0; i < 100 && !((await online('carol')) && !(await online('bob'))); i++) await new Promise((r) => setTimeout(r, 100));
    expect([await online('carol'), await online('bob')]).toEqual([true, false]);
    expect((await cli(bobHome, ['peers', '--json'], { CLAUDEMESH_FAST: 'only' })).code).toBe(0);
  });

  it('stops on request and when its home disappears', async () => {
    expect((await cli(bobHome, ['daemon', 'stop'])).stdout).toMatch(/daemon stopped/);
    expect(JSON.parse((await cli(bobHome, ['daemon', 'status', '--json'])).stdout)).toEqual({ running: false });

    const gone = dir('cmh-dgone-');
    expect((await cli(gone, ['daemon', 'start', '--json'])).code).toBe(0);
    const { pid } = JSON.parse((await cli(gone, ['daemon', 'status', '--json'])).stdout) as DaemonInfo;
    rmSync(gone, { recursive: true, force: true });
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor(() => !alive(), 'the orphaned daemon to exit', 8_000);
  });

  it('installs and uninstalls a systemd user unit', async () => {
    const xdg = dir('cmh-dxdg-');
    const env = { XDG_CONFIG_HOME: xdg };
    const installed = JSON.parse((await cli(bobHome, ['daemon', 'install', '--json'], env)).stdout) as { kind: string; path: string; changed: boolean };
    expect(installed).toMatchObject({ kind: 'systemd', path: join(xdg, 'systemd', 'user', 'claudemesh-daemon.service'), changed: true });
    const unit = readFileSync(installed.path, 'utf8');
    expect(unit).toContain(`ExecStart=${process.execPath} ${CLI} daemon run`);
    expect(unit).toContain(`Environment=CLAUDEMESH_HOME=${bobHome}`);
    expect(unit).toMatch(/\[Install\]\nWantedBy=default.target/);
    expect(JSON.parse((await cli(bobHome, ['daemon', 'install', '--json'], env)).stdout)).toMatchObject({ changed: false });
    expect((await cli(bobHome, ['daemon', 'uninstall'], env)).stdout).toMatch(/removed/);
    expect(existsSync(installed.path)).toBe(false);
  });
});
