import {
  EpochKeyring, MeshClient, createMesh, ingestEvent, syncEpochs, issueInvite, joinMesh, keyringAuthorities, meshMembersWithKeys, openTopicMessage, saveMesh, topicSendEncrypted, wsUrlOf,
  type TopicMessage,
} from '@claudemesh/core';
import { decodeBody } from '@claudemesh/core/body';
import { generateIdentity, serializeIdentity, topicScope, type Identity } from '@claudemesh/crypto';
import { PluginHost, loadHostConfig } from '@claudemesh/plugin';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { cpuMs } from '../process-stats.js';
import { percentile, round } from '../stats.js';
import type { MeshSystem } from '../transports/mesh.js';

export interface BridgeBenchOptions {
  /** Messages per measured phase. */
  messages: number;
  /** Messages per second the sender posts at (each phase). */
  rate: number;
  rounds: number;
  /**
   * Messages of an unmeasured direct and bridged phase before the rounds (0: none): the first
   * forwards after a start compile the paths and fetch keys, a cost of its own, reported apart.
   */
  warmupMessages: number;
  size: number;
  timeoutMs: number;
  log: (line: string) => void;
}

const PLUGINS = fileURLToPath(new URL('../../../../plugins', import.meta.url));
const TOPIC = 'general';

interface Member {
  identity: Identity;
  client: MeshClient;
  ring: EpochKeyring;
}

async function member(url: string, meshId: string, identity: Identity): Promise<Member> {
  const client = new MeshClient({ url: wsUrlOf(url), meshId, identity, reconnect: false, clientName: 'bench' });
  await client.connect();
  return { identity, client, ring: new EpochKeyring({ me: identity, meshId, authorities: keyringAuthorities(await client.listPeers()) }) };
}

const median = (xs: number[]): number | null => (xs.length === 0 ? null : percentile(xs, 50));

/**
 * One bridge hop against a direct post, in the same run (docs/plugins.md §5): meshes alpha and beta
 * on one broker, `#general` end-to-end encrypted on both, the bridge plugin run by the real plugin
 * host as its own process. Direct: carol posts in beta, bob (beta) receives and opens. Bridged: alice
 * posts in alpha, the bridge opens it, seals it again for beta and posts it, bob receives and opens.
 * Each phase posts `messages` at `rate` per second; the added latency is bridged − direct, per
 * percentile. Target: one hop adds < 20 ms p99 at 500 msg/s.
 */
export async function bridgeBench(sys: MeshSystem, o: BridgeBenchOptions): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'cmh-bench-bridge-'));
  const bridgeHome = join(dir, 'bridge');
  const owners = { alpha: generateIdentity(), beta: generateIdentity() };
  const ids = { alice: generateIdentity(), bob: generateIdentity(), carol: generateIdentity(), bridge: generateIdentity() };
  const meshes: Record<'alpha' | 'beta', string> = { alpha: '', beta: '' };
  for (const name of ['alpha', 'beta'] as const) {
    const created = await createMesh(sys.url, { name, owner: owners[name], displayName: `${name}-owner`, adminToken: sys.adminToken, general: 'e2e' });
    meshes[name] = created.mesh_id;
    const { invite } = await issueInvite(sys.url, { meshId: created.mesh_id, meshName: name, brokerUrl: sys.url, issuer: owners[name], maxUses: 3 });
    const joiners = name === 'alpha' ? [ids.alice, ids.bridge] : [ids.bob, ids.carol, ids.bridge];
    for (const identity of joiners) {
      const who = Object.entries(ids).find(([, i]) => i === identity)![0];
      await joinMesh(sys.url, { invite, identity, displayName: who });
    }
    saveMesh(bridgeHome, {
      v: 1, mesh_id: created.mesh_id, mesh_name: name, broker_url: sys.url, display_name: 'bridge', role: 'member', peer_type: 'connector',
      identity: serializeIdentity(ids.bridge), joined_at: Date.now(),
    });
  }
  const alice = await member(sys.url, meshes.alpha, ids.alice);
  const bob = await member(sys.url, meshes.beta, ids.bob);
  const carol = await member(sys.url, meshes.beta, ids.carol);
  // Epoch 1 of each #general, listing everyone (the bridge included), before the bridge starts.
  await topicSendEncrypted(alice.client, alice.ring, TOPIC, 'alpha is open', { members: () => meshMembersWithKeys(alice.client) });
  await topicSendEncrypted(carol.client, carol.ring, TOPIC, 'beta is open', { members: () => meshMembersWithKeys(carol.client) });

  const config = join(dir, 'plugins.yaml');
  const nodeArgs = (process.env['CLAUDEMESH_BENCH_BRIDGE_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  writeFileSync(config, `plugins:\n  - instance: bench-bridge\n    plugin: bridge\n    home: ${bridgeHome}\n    node_args: ${JSON.stringify(nodeArgs)}\n    config:\n      routes: [{ from: { mesh: alpha, topic: ${TOPIC} }, to: { mesh: beta, topic: ${TOPIC} }, both_ways: false }]\n      window: ${Number(process.env["CLAUDEMESH_BENCH_BRIDGE_WINDOW"] ?? 16)}\n`);
  const host = new PluginHost({ loaded: loadHostConfig(config), hostVersion: '0.1.0', pluginsDir: PLUGINS, home: dir, log: () => undefined });
  await host.start();
  const deadline = performance.now() + o.timeoutMs;
  while (host.status()[0]?.state !== 'running') {
    if (performance.now() > deadline) throw new Error(`the bridge did not start: ${JSON.stringify(host.status())}`);
    await new Promise((r) => setTimeout(r, 50));
  }

  // bob joins #general (pushes reach a topic's members: he posts once) and holds its key.
  await topicSendEncrypted(bob.client, bob.ring, TOPIC, 'bob reads here', { members: () => meshMembersWithKeys(bob.client) });
  // bob opens every #general message and notes when each token arrived (a message under an epoch
  // whose push has not come yet waits for a sync, and counts when it opens).
  const arrived = new Map<string, number>();
  /** When the broker stored the message bob got (its `created_at`): splits a latency into before and after that store. */
  const stored = new Map<string, number>();
  const note = (text: string | null, createdAt: number): void => {
    if (text === null) return;
    const token = decodeBody(text).text.split(' ')[0]!;
    arrived.set(token, performance.now());
    stored.set(token, createdAt);
  };
  bob.client.on('topic', (m: TopicMessage) => {
    if (m.topic !== TOPIC) return;
    const opened = openTopicMessage(bob.ring, m);
    if (opened.text !== null) return note(opened.text, m.created_at);
    void syncEpochs(bob.client, bob.ring, topicScope(TOPIC)).then(() => note(openTopicMessage(bob.ring, m).text, m.created_at));
  });
  // bob holds every beta epoch key as it is published (the bench's pushes).
  bob.client.on('epoch', (e) => {
    if (e.manifest) ingestEvent(bob.ring, e);
  });
  const filler = 'x'.repeat(Math.max(0, o.size - 16));
  const trace = process.env['CLAUDEMESH_BENCH_BRIDGE_TRACE'] || null;
  if (trace) {
    // Each epoch push to a reader of either mesh, when it came: the rotations, to line up with slow stretches.
    for (const [mesh, client] of [['alpha', alice.client], ['beta', bob.client]] as const) {
      client.on('epoch', (e) => appendFileSync(trace, `${JSON.stringify({ epoch: e.epoch, mesh, scope: e.scope, at: Math.round(performance.timeOrigin + performance.now()) })}\n`));
    }
  }

  /** Posts `messages` at `rate`/s from `sender`; returns each token's latency (ms) to bob. */
  const bridgePid = (): number | undefined => host.status()[0]?.pid ?? undefined;
  /** CPU time (ms) the broker, the bridge and this load generator have used so far: a phase's cost, steadier than its latency on a shared machine. */
  const cpuNow = (): { broker: number | null; bridge: number | null; bench: number } => {
    const own = process.cpuUsage();
    return { broker: cpuMs(sys.serverPid), bridge: cpuMs(bridgePid()), bench: (own.user + own.system) / 1000 };
  };
  const phase = async (sender: Member, prefix: string, messages = o.messages): Promise<{ latencies: number[]; seconds: number; missing: number; lagMaxMs: number; cpu: Record<string, number | null> }> => {
    const sentAt = new Map<string, number>();
    /** When the broker stored each post as sent (its ack's created_at): in the bridged phase, the source post. */
    const sentStored = new Map<string, number>();
    const cpuBefore = cpuNow();
    // The load generator's own event-loop delay: a stall of its loop shows in both phases' latencies.
    const lag = monitorEventLoopDelay({ resolution: 5 });
    lag.enable();
    const start = performance.now();
    const interval = 1000 / o.rate;
    const inFlight: Array<Promise<unknown>> = [];
    for (let i = 0; i < messages; i++) {
      const due = start + i * interval;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const token = `${prefix}${i}`;
      sentAt.set(token, performance.now());
      inFlight.push(topicSendEncrypted(sender.client, sender.ring, TOPIC, `${token} ${filler}`, { members: () => meshMembersWithKeys(sender.client) }).then((m) => sentStored.set(token, m.created_at)));
    }
    await Promise.all(inFlight);
    const until = performance.now() + o.timeoutMs;
    while ([...sentAt.keys()].some((t) => !arrived.has(t)) && performance.now() < until) await new Promise((r) => setTimeout(r, 5));
    const seconds = (performance.now() - start) / 1000;
    lag.disable();
    const latencies = [...sentAt].filter(([t]) => arrived.has(t)).map(([t, at]) => arrived.get(t)! - at);
    if (trace) {
      // One line per message, in send order: where in the phase a slow stretch sits (docs/performance.md "Bridge");
      // `at` (ms since the epoch) lines it up with other processes' logs; `stored_ms` is when the broker stored
      // the message bob got (its created_at, the database's clock, ms), after the send.
      appendFileSync(trace, [...sentAt].map(([t, at], i) => JSON.stringify({ phase: prefix, i, sent_ms: round(at - start), at: Math.round(performance.timeOrigin + at), latency_ms: arrived.has(t) ? round(arrived.get(t)! - at) : null, stored_ms: stored.has(t) ? round(stored.get(t)! - (performance.timeOrigin + at)) : null, sent_stored_ms: sentStored.has(t) ? round(sentStored.get(t)! - (performance.timeOrigin + at)) : null })).join('\n') + '\n');
    }
    const cpuAfter = cpuNow();
    // CPU ms per message of each process over the phase (null where a process could not be read).
    const perMessage = (k: 'broker' | 'bridge' | 'bench'): number | null => {
      const [a, b] = [cpuBefore[k], cpuAfter[k]];
      // A bridge restarted during the phase is another process: its count starts again (restarts are reported apart).
      return a === null || b === null || b < a ? null : round((b - a) / messages, 3);
    };
    const cpu = { broker: perMessage('broker'), bridge: perMessage('bridge'), bench: perMessage('bench') };
    return { latencies, seconds, missing: [...sentAt.keys()].filter((t) => !arrived.has(t)).length, lagMaxMs: round(lag.max / 1e6), cpu };
  };

  try {
    o.log(`  bridge: alpha#${TOPIC} → beta#${TOPIC}, ${o.messages} messages at ${o.rate}/s a phase, ${o.rounds} round(s)`);
    let warmup: Record<string, number | null> = {};
    if (o.warmupMessages > 0) {
      const direct = await phase(carol, 'wd-', o.warmupMessages);
      const bridged = await phase(alice, 'wb-', o.warmupMessages);
      warmup = {
        warmup_messages: o.warmupMessages, warmup_direct_p99_ms: percentile(direct.latencies, 99), warmup_bridged_p99_ms: percentile(bridged.latencies, 99),
        warmup_missing: direct.missing + bridged.missing,
      };
      o.log(`  warm-up (not counted): ${o.warmupMessages} messages a phase; direct p99 ${warmup['warmup_direct_p99_ms']} ms, one bridge hop p99 ${warmup['warmup_bridged_p99_ms']} ms (the first forwards after a start fetch keys and compile their paths); missing ${direct.missing}/${bridged.missing}`);
    }
    const rows: Array<Record<string, number | null>> = [];
    for (let r = 0; r < o.rounds; r++) {
      const direct = await phase(carol, `d${r}-`);
      const bridged = await phase(alice, `b${r}-`);
      const row = {
        direct_p50_ms: percentile(direct.latencies, 50), direct_p99_ms: percentile(direct.latencies, 99),
        bridged_p50_ms: percentile(bridged.latencies, 50), bridged_p99_ms: percentile(bridged.latencies, 99),
        direct_msgs_s: round(direct.latencies.length / direct.seconds, 1),
        forwarded_msgs_s: round(bridged.latencies.length / bridged.seconds, 1), direct_missing: direct.missing, bridged_missing: bridged.missing,
        bench_loop_max_ms: Math.max(direct.lagMaxMs, bridged.lagMaxMs),
        direct_broker_cpu_ms_per_msg: direct.cpu['broker'] ?? null, bridged_broker_cpu_ms_per_msg: bridged.cpu['broker'] ?? null,
        bridged_bridge_cpu_ms_per_msg: bridged.cpu['bridge'] ?? null,
        direct_bench_cpu_ms_per_msg: direct.cpu['bench'] ?? null, bridged_bench_cpu_ms_per_msg: bridged.cpu['bench'] ?? null,
      };
      rows.push(row);
      o.log(`  round ${r + 1}: direct p50 ${row.direct_p50_ms} / p99 ${row.direct_p99_ms} ms; one bridge hop p50 ${row.bridged_p50_ms} / p99 ${row.bridged_p99_ms} ms; ${row.forwarded_msgs_s} forwarded/s; missing ${direct.missing}/${bridged.missing}; the bench's own event loop stalled at most ${row.bench_loop_max_ms} ms; CPU ms per message: broker ${row.direct_broker_cpu_ms_per_msg} direct / ${row.bridged_broker_cpu_ms_per_msg} bridged, bridge ${row.bridged_bridge_cpu_ms_per_msg}, load generator ${row.direct_bench_cpu_ms_per_msg} / ${row.bridged_bench_cpu_ms_per_msg}`);
    }
    const pick = (k: string): number[] => rows.map((x) => x[k]).filter((x): x is number => typeof x === 'number');
    const status = host.status()[0]!;
    const d50 = median(pick('direct_p50_ms'));
    const d99 = median(pick('direct_p99_ms'));
    const b50 = median(pick('bridged_p50_ms'));
    const b99 = median(pick('bridged_p99_ms'));
    return {
      messages: o.messages, rate: o.rate, rounds: o.rounds,
      direct_p50_ms: d50, direct_p99_ms: d99, bridged_p50_ms: b50, bridged_p99_ms: b99,
      added_p50_ms: d50 !== null && b50 !== null ? round(b50 - d50) : null,
      added_p99_ms: d99 !== null && b99 !== null ? round(b99 - d99) : null,
      direct_msgs_s: median(pick('direct_msgs_s')),
      direct_broker_cpu_ms_per_msg: median(pick('direct_broker_cpu_ms_per_msg')),
      bridged_broker_cpu_ms_per_msg: median(pick('bridged_broker_cpu_ms_per_msg')),
      bridged_bridge_cpu_ms_per_msg: median(pick('bridged_bridge_cpu_ms_per_msg')),
      forwarded_msgs_s: median(pick('forwarded_msgs_s')),
      missing: pick('direct_missing').reduce((a, b) => a + b, 0) + pick('bridged_missing').reduce((a, b) => a + b, 0) + Number(warmup['warmup_missing'] ?? 0),
      bridge_restarts: status.restarts,
      target_added_p99_ms: 20,
      ...warmup,
      per_round: rows,
    };
  } finally {
    await host.stop();
    await Promise.all([alice, bob, carol].map((m) => m.client.close()));
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Whether both phases kept up with the rate (90 % of it, the last message's latency included): a
 * latency compared across phases where one fell behind says nothing (a direct phase that fell
 * further behind made the "added" latency negative, and that is no pass).
 */
export function keptUp(row: Record<string, unknown>): boolean {
  const rate = Number(row['rate']);
  return Number(row['direct_msgs_s']) >= 0.9 * rate && Number(row['forwarded_msgs_s']) >= 0.9 * rate;
}

/** The human line of a bridge row. */
export function bridgeLine(row: Record<string, unknown>): string {
  const added = row['added_p99_ms'];
  // A direct phase slower than the bridged one (its warm-up, a stall) compares nothing: no pass.
  const verdict = typeof added === 'number' ? (added < 0 ? ' ✗ (the direct phase was slower: no comparison)' : added < 20 ? ' ✓' : ' ✗') : '';
  const ok = verdict !== '' && !keptUp(row) ? ` ✗ (did not keep up with ${row['rate']}/s: ${row['direct_msgs_s']} direct, ${row['forwarded_msgs_s']} forwarded per second)` : verdict;
  return `bridge (${row['db']}): ${row['messages']} messages at ${row['rate']}/s × ${row['rounds']} rounds: direct post p50 ${row['direct_p50_ms']} / p99 ${row['direct_p99_ms']} ms; `
    + `through one bridge hop p50 ${row['bridged_p50_ms']} / p99 ${row['bridged_p99_ms']} ms, ${row['forwarded_msgs_s']} forwarded/s, ${row['missing']} missing, ${row['bridge_restarts']} bridge restarts; `
    + `added by the hop p50 ${row['added_p50_ms']} / p99 ${row['added_p99_ms']} ms${ok} (medians)`;
}
