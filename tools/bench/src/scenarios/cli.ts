import { createMesh, issueInvite } from '@claudemesh/core';
import { encodeInviteLink, generateIdentity, generateMeshKey } from '@claudemesh/crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { percentile, round } from '../stats.js';
import type { MeshSystem } from '../transports/mesh.js';

/** The CLI entry users run (bin → bundle or dist). */
const CLI = fileURLToPath(new URL('../../../../apps/cli/bin/claudemesh.js', import.meta.url));

export interface CliOptions {
  runs: number;
  log: (line: string) => void;
}

/**
 * Whole-process timings of the CLI, each beside `node -e 0` in the same round-robin, so a noisy
 * machine slows them alike: cold `--version`, cold `peer list --json` (through the daemon's fast
 * path, and with the daemon off), and `message send` through a warm daemon (and direct).
 */
export async function cliScenario(sys: MeshSystem, o: CliOptions) {
  const owner = generateIdentity();
  const meshKey = generateMeshKey();
  const created = await createMesh(sys.url, { name: 'bench-cli', owner, displayName: 'owner', adminToken: sys.adminToken });
  const { invite } = await issueInvite(sys.url, { meshId: created.mesh_id, meshName: 'bench-cli', brokerUrl: sys.url, issuer: owner, maxUses: 2 });
  const home = mkdtempSync(join(tmpdir(), 'cmh-bench-cli-'));
  const env = { ...process.env, CLAUDEMESH_HOME: home };
  const direct = { ...env, CLAUDEMESH_DAEMON: 'off' };
  const time = (args: string[], e: NodeJS.ProcessEnv = env, script = true): number => {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, script ? [CLI, ...args] : args, { env: e, stdio: ['ignore', 'ignore', 'pipe'] });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`claudemesh ${args.join(' ')} failed (${r.status}): ${r.stderr.toString()}`);
    return ms;
  };
  try {
    time(['join', encodeInviteLink(invite, meshKey), '--name', 'bencher']);
    time(['daemon', 'start']);
    const samples: Record<string, number[]> = { node: [], version: [], peers: [], peers_direct: [], send: [], send_direct: [] };
    for (let i = 0; i < o.runs; i++) {
      samples['node']!.push(time(['-e', '0'], env, false));
      samples['version']!.push(time(['--version']));
      samples['peers']!.push(time(['peer', 'list', '--json']));
      samples['peers_direct']!.push(time(['peer', 'list', '--json'], direct));
      samples['send']!.push(time(['message', 'send', 'owner', `warm ${i}`]));
      samples['send_direct']!.push(time(['message', 'send', 'owner', `direct ${i}`], direct));
      if (i % 5 === 4) o.log(`  ${i + 1}/${o.runs} rounds`);
    }
    const med = (k: string) => percentile(samples[k]!, 50)!;
    const ratio = (k: string) => round(med(k) / med('node'), 2);
    return {
      runs: o.runs,
      node_e0_ms: med('node'),
      version_ms: med('version'),
      peer_list_ms: med('peers'),
      peer_list_direct_ms: med('peers_direct'),
      send_warm_ms: med('send'),
      send_direct_ms: med('send_direct'),
      version_ratio: ratio('version'),
      peer_list_ratio: ratio('peers'),
      peer_list_direct_ratio: ratio('peers_direct'),
      send_warm_ratio: ratio('send'),
      send_direct_ratio: ratio('send_direct'),
    };
  } finally {
    spawnSync(process.execPath, [CLI, 'daemon', 'stop'], { env, stdio: 'ignore' });
    rmSync(home, { recursive: true, force: true });
  }
}
