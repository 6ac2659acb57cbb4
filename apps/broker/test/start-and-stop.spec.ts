import { MeshClient, createMesh, issueInvite, joinMesh, type InboundMessage } from '@claudemesh/core';
import { cryptoReady, generateIdentity, generateMeshKey } from '@claudemesh/crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, waitFor } from '../../../test/helpers/broker.js';
import { BrokerProcess, freePort } from '../../../tools/bench/src/broker-process.js';

const START_SCRIPT = fileURLToPath(new URL('../../../scripts/start.mjs', import.meta.url));

/** Holds a port the way another broker would. */
async function occupy(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

/**
 * The built broker as an operator runs it (issue 12 item 11): `npm start` says what it does while it
 * builds, a taken port is one line that names PORT, and a signal ends it with a line saying it
 * stopped and that nothing queued was lost — which the restart then shows.
 */
describe('starting and stopping the broker', () => {
  const dirs: string[] = [];
  const dir = (prefix: string) => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('refuses a port in use with one line that names PORT', { timeout: 60_000 }, async () => {
    const { server, port } = await occupy();
    try {
      const { code, output } = await BrokerProcess.runToExit({ PORT: String(port), HOST: '127.0.0.1', CLAUDEMESH_HOME: dir('cmh-port-'), ADMIN_TOKEN, BOOTSTRAP_MESH: 'off' });
      expect(code).toBe(1);
      expect(output).toBe(`claudemesh broker failed to start: port ${port} is in use on 127.0.0.1; set PORT=<another port> (e.g. PORT=${port + 1} npm start) or stop the other broker\n`);
    } finally {
      server.close();
    }
  });

  it('says it stopped on SIGTERM and on SIGINT, and a message queued for an offline member is there after the restart', { timeout: 120_000 }, async () => {
    await cryptoReady();
    const port = await freePort();
    const env = { PORT: String(port), HOST: '127.0.0.1', CLAUDEMESH_HOME: dir('cmh-stop-'), ADMIN_TOKEN, BOOTSTRAP_MESH: 'off', LOG_LEVEL: 'error' };
    const url = `http://127.0.0.1:${port}`;
    let broker = new BrokerProcess(env);
    await broker.start(120_000);
    const owner = generateIdentity();
    const bob = generateIdentity();
    const meshKey = generateMeshKey();
    const { mesh_id } = await createMesh(url, { name: 'stop-mesh', owner, displayName: 'owner', adminToken: ADMIN_TOKEN });
    const { invite } = await issueInvite(url, { meshId: mesh_id, meshName: 'stop-mesh', brokerUrl: url, issuer: owner });
    await joinMesh(url, { invite, identity: bob, displayName: 'bob' });
    const sender = new MeshClient({ url: `ws://127.0.0.1:${port}/ws`, meshId: mesh_id, identity: owner, meshKey, reconnect: false });
    await sender.connect();
    const ack = await sender.send('bob', 'queued across a stop');
    await sender.close();

    expect(await broker.kill('SIGTERM')).toBe(0);
    // 'exit' can come before the last output chunk.
    await waitFor(() => broker.output.includes('stopped (SIGTERM)'), 'the stop line');
    expect(broker.output).toContain('claudemesh broker stopping (SIGTERM): closing connections, finishing writes…\n');
    expect(broker.output).toContain('claudemesh broker stopped (SIGTERM); nothing queued was lost\n');

    broker = new BrokerProcess(env);
    await broker.start(120_000);
    const inbox: InboundMessage[] = [];
    const reader = new MeshClient({ url: `ws://127.0.0.1:${port}/ws`, meshId: mesh_id, identity: bob, meshKey, reconnect: false });
    reader.on('message', (m) => inbox.push(m));
    await reader.connect();
    await waitFor(() => inbox.length === 1, 'the queued message after the restart');
    expect(inbox[0]!.messageId).toBe(ack.message_id);
    await reader.close();

    expect(await broker.kill('SIGINT')).toBe(0);
    await waitFor(() => broker.output.includes('stopped (SIGINT)'), 'the stop line');
    expect(broker.output).toContain('claudemesh broker stopped (SIGINT); nothing queued was lost\n');
  });

  it('npm start says what it builds, step by step, before the broker runs', { timeout: 600_000 }, async () => {
    const { server, port } = await occupy();
    try {
      // A taken port ends the run right after the build steps, which is all this checks.
      const child = spawn(process.execPath, [START_SCRIPT], { env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', CLAUDEMESH_HOME: dir('cmh-npmstart-'), ADMIN_TOKEN }, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      const lines = output.trimEnd().split('\n');
      expect(code).toBe(1);
      expect(lines[0]).toMatch(/^\[1\/3\] TypeScript: (up to date|compiling .+ \(tsc -b; about 30 s from a fresh clone\)…)$/);
      expect(lines).toContainEqual(expect.stringMatching(/^\[2\/3\] CLI bundle: (up to date|building \(esbuild\)…)$/));
      expect(lines.at(-2)).toBe('[3/3] starting the broker…');
      expect(lines.at(-1)).toBe(`claudemesh broker failed to start: port ${port} is in use on 127.0.0.1; set PORT=<another port> (e.g. PORT=${port + 1} npm start) or stop the other broker`);
    } finally {
      server.close();
    }
  });
});
