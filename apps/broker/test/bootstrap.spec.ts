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

/** What `npm start` prints on a fresh machine, and that a peer can join with exactly that. */
describe('first start (npm start) on the embedded database', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('creates a mesh as the local owner client, prints a short invite and the join command, and a peer joins with it', { timeout: 90_000 }, async () => {
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

      // A restart keeps the mesh and prints fresh invites.
      await broker.kill('SIGTERM');
      broker = new BrokerProcess(env);
      await broker.start();
      await waitFor(() => broker.output.includes('a peer joins with'), 'the join instructions after a restart', 20_000);
      expect(broker.output).toMatch(/^mesh "default"/m);
      expect(readdirSync(join(home, 'meshes'))).toHaveLength(1);
    } finally {
      await broker.kill('SIGTERM');
    }
  });
});
