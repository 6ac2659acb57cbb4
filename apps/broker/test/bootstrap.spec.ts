import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/helpers/broker.js';
import { BrokerProcess, freePort } from '../../../tools/bench/src/broker-process.js';

const CLI = fileURLToPath(new URL('../../cli/bin/claudemesh.js', import.meta.url));
const run = promisify(execFile);

/** What `npm start` prints on a fresh machine, that a peer can join with exactly that, and what later starts print. */
describe('first start (npm start) on the embedded database', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('creates a mesh as the local owner client, prints a short invite and the join command once, a peer joins with it, and a restart prints no invite and opens no seat', { timeout: 240_000 }, async () => {
    const home = mkdtempSync(join(tmpdir(), 'cmh-boot-'));
    const peerHome = mkdtempSync(join(tmpdir(), 'cmh-boot-peer-'));
    dirs.push(home, peerHome);
    const port = await freePort();
    const env = { PORT: String(port), HOST: '127.0.0.1', CLAUDEMESH_HOME: home, LOG_LEVEL: 'error' };
    let broker = new BrokerProcess(env);
    try {
      await broker.start();
      await waitFor(() => broker.output.includes('a peer joins with'), 'the join instructions', 20_000);
      expect(broker.output).toMatch(/created "default" \([0-9a-f-]{36}\); owner key and mesh key: /);
      const short = /^ {2}claudemesh join '(http:\/\/127\.0\.0\.1:\d+\/i\/[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})' --name <their-name>$/m.exec(broker.output);
      expect(short).not.toBeNull();
      const ownerFile = join(home, 'meshes', readdirSync(join(home, 'meshes'))[0]!);
      expect(statSync(ownerFile).mode & 0o777).toBe(0o600);

      const peerEnv = { ...process.env, CLAUDEMESH_HOME: peerHome, CLAUDEMESH_DAEMON: 'off' };
      const joined = await run(process.execPath, [CLI, 'join', short![1]!, '--name', 'newcomer'], { env: peerEnv });
      expect(joined.stdout).toMatch(/joined "default" as newcomer/);
      const peers = await run(process.execPath, [CLI, 'peers', '--json'], { env: peerEnv });
      expect((JSON.parse(peers.stdout) as Array<{ display_name: string }>).map((p) => p.display_name)).toEqual(['owner', 'newcomer']);

      // The owner (CLAUDEMESH_HOME = the broker's home) sees the one invite that start issued.
      const ownerEnv = { ...process.env, CLAUDEMESH_HOME: home, CLAUDEMESH_DAEMON: 'off' };
      const invites = async () => JSON.parse((await run(process.execPath, [CLI, 'mesh', 'invite', 'list', '--all', '--json'], { env: ownerEnv })).stdout) as Array<{ kind: string; uses: number; max_uses: number }>;
      expect(await invites()).toEqual([expect.objectContaining({ kind: 'short', uses: 1, max_uses: 10 })]);
      // The v1 link carries the mesh key itself: not printed (nor issued) unless asked for.
      expect(broker.output).not.toMatch(/ic:\/\/join\/|\/join#/);
      expect(broker.output).toContain(`more invites later, as the owner: CLAUDEMESH_HOME=${home} claudemesh mesh invite --mesh default`);

      // A restart keeps the mesh, prints no invite (nothing secret for a service manager's log) and opens no seat.
      await broker.kill('SIGTERM');
      broker = new BrokerProcess(env);
      await broker.start();
      await waitFor(() => broker.output.includes('claudemesh mesh invite'), 'how the owner gets an invite, after a restart', 20_000);
      expect(broker.output).toMatch(/^mesh "default"/m);
      expect(broker.output).toContain(`no invite is printed after the first start; the owner issues one (a short link and the join command) with:\n  CLAUDEMESH_HOME=${home} claudemesh mesh invite --mesh default`);
      expect(broker.output).not.toMatch(/\/i\/[0-9A-Z]{4}-|ic:\/\/join\/|a peer joins with/);
      expect(readdirSync(join(home, 'meshes'))).toHaveLength(1);
      expect(await invites()).toHaveLength(1);

      // The owner's own invite, issued as the restart banner says, admits the next peer.
      const issued = await run(process.execPath, [CLI, 'mesh', 'invite', '--mesh', 'default', '--json'], { env: ownerEnv });
      const secondHome = mkdtempSync(join(tmpdir(), 'cmh-boot-second-'));
      dirs.push(secondHome);
      const next = await run(process.execPath, [CLI, 'join', (JSON.parse(issued.stdout) as { link: string }).link, '--name', 'second'], { env: { ...process.env, CLAUDEMESH_HOME: secondHome, CLAUDEMESH_DAEMON: 'off' } });
      expect(next.stdout).toMatch(/joined "default" as second/);
    } finally {
      await broker.kill('SIGTERM');
    }
  });
});

describe('first start with BOOTSTRAP_V1_LINK=on', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('also issues and prints the v1 link, marked as carrying the mesh key, and a peer joins with it', { timeout: 120_000 }, async () => {
    const home = mkdtempSync(join(tmpdir(), 'cmh-boot-v1-'));
    const peerHome = mkdtempSync(join(tmpdir(), 'cmh-boot-v1-peer-'));
    dirs.push(home, peerHome);
    const broker = new BrokerProcess({ PORT: String(await freePort()), HOST: '127.0.0.1', CLAUDEMESH_HOME: home, LOG_LEVEL: 'error', BOOTSTRAP_V1_LINK: 'on' });
    try {
      await broker.start();
      await waitFor(() => broker.output.includes('a peer joins with'), 'the join instructions', 20_000);
      const v1 = /^ {2}(ic:\/\/join\/\S+) {3}\(v1 link: carries the mesh key itself; BOOTSTRAP_V1_LINK=on\)$/m.exec(broker.output);
      expect(v1).not.toBeNull();
      const joined = await run(process.execPath, [CLI, 'join', v1![1]!, '--name', 'oldtimer'], { env: { ...process.env, CLAUDEMESH_HOME: peerHome, CLAUDEMESH_DAEMON: 'off' } });
      expect(joined.stdout).toMatch(/joined "default" as oldtimer/);
      const listed = await run(process.execPath, [CLI, 'mesh', 'invite', 'list', '--json'], { env: { ...process.env, CLAUDEMESH_HOME: home, CLAUDEMESH_DAEMON: 'off' } });
      expect((JSON.parse(listed.stdout) as Array<{ kind: string }>).map((i) => i.kind).sort()).toEqual(['short', 'v1']);
    } finally {
      await broker.kill('SIGTERM');
    }
  });
});
