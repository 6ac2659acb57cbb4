import {
  EpochKeyring, MeshApi, MeshClient, createApiKey, createMesh, issueInvite, joinMesh, openTopicMessage, syncEpochs, topicSendEncrypted,
  type EpochEvent, type TopicMessage,
} from '@claudemesh/core';
import { generateIdentity, generateMeshKey, topicScope, type Identity } from '@claudemesh/crypto';
import { PeakSampler, cpuMs } from '../process-stats.js';
import { percentile, round } from '../stats.js';
import type { MeshSystem } from '../transports/mesh.js';
import type { BenchPeer } from '../transports/transport.js';
import { Tracker, payload } from './measure.js';

/** The same fan-out to a plaintext topic (body_version 1) is what the e2e topic is measured against. */
export const PLAIN_BASELINE = 'plaintext-topic-fanout';
const PLAIN_TOPIC = 'fanout-plain';
const E2E_TOPIC = 'fanout-e2e';
const ROTATION_TOPIC = 'rotation';

export interface TopicE2eOptions {
  /** Receivers of each message (the sender comes on top: subscribers + 1 members). */
  subscribers: number;
  /** Messages per measured phase. */
  messages: number;
  /** Plaintext/e2e pairs, alternated; medians are reported. */
  rounds: number;
  window: number;
  size: number;
  timeoutMs: number;
  /** Messages of each kind before the first round (not counted). */
  warmupMessages: number;
  /** Members of the rotated topic (the rotating one included). */
  rotationMembers: number;
  rotations: number;
  log: (line: string) => void;
}

/** One member: its identity, its WebSocket client and its keyring, fed by every `epoch_new` push. */
interface Member {
  identity: Identity;
  client: MeshClient;
  ring: EpochKeyring;
  /** When this member opened each (scope, epoch) key from a push, by `${scope}#${epoch}`. */
  openedAt: Map<string, number>;
  /** Seals or manifests a push brought that this keyring refused. */
  refused: string[];
}

/** A member sending to or receiving a topic: plaintext as is, e2e sealed under the keyring and opened on arrival. */
class TopicMember implements BenchPeer {
  private handlers: Array<(text: string) => void> = [];
  /** e2e messages that arrived while measuring but did not open (a refusal or a missing key). */
  unopened = 0;
  /** Time spent in openTopicMessage while measuring (ms). */
  openMs = 0;

  constructor(
    readonly index: number,
    private readonly m: Member,
    private readonly topic: string,
    private readonly e2e: boolean,
    private readonly members: readonly string[],
  ) {
    m.client.on('topic', (msg: TopicMessage) => {
      if (msg.topic !== this.topic || this.handlers.length === 0) return;
      let text: string | null;
      if (this.e2e) {
        // Every message is opened and verified (signature, then AEAD) with this member's keyring.
        const t0 = performance.now();
        const opened = openTopicMessage(this.m.ring, msg);
        this.openMs += performance.now() - t0;
        text = opened.text;
        if (text === null || msg.body_version !== 2) {
          this.unopened += 1;
          return;
        }
      } else {
        text = msg.text ?? '';
      }
      for (const h of this.handlers) h(text);
    });
  }

  async send(_to: number | `@${string}`, text: string): Promise<void> {
    if (this.e2e) await topicSendEncrypted(this.m.client, this.m.ring, this.topic, text, { members: async () => this.members });
    else await this.m.client.topicSend(this.topic, text);
  }

  async joinGroup(): Promise<void> {}

  onMessage(handler: (text: string) => void): void {
    this.handlers.push(handler);
  }

  /** Detaches the phase's tracker: later messages are not opened or counted. */
  reset(): void {
    this.handlers = [];
  }

  async close(): Promise<void> {}
}

async function mapLimit<T>(count: number, limit: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, count) }, async () => {
    while (next < count) {
      const i = next++;
      out[i] = await fn(i);
    }
  }));
  return out;
}

async function waitUntil(ok: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!ok()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const median = (xs: number[]): number | null => (xs.length === 0 ? null : percentile(xs, 50));

/** A mesh of `count` members, each with its own identity, WebSocket client and keyring; an admin key of the owner for REST. */
async function setUp(sys: MeshSystem, count: number): Promise<{ api: MeshApi; members: Member[] }> {
  const owner = generateIdentity();
  const mesh = await createMesh(sys.url, { name: 'bench-e2e', owner, displayName: 'owner', adminToken: sys.adminToken });
  const admin = await createApiKey(sys.url, owner, mesh.mesh_id, { label: 'bench admin', capabilities: ['read', 'send', 'admin'] });
  const api = new MeshApi(sys.url, admin.secret);
  const { invite } = await issueInvite(sys.url, { meshId: mesh.mesh_id, meshName: 'bench-e2e', brokerUrl: sys.url, issuer: owner, maxUses: count });
  const identities: Identity[] = [];
  for (let i = 0; i < count; i++) {
    const identity = generateIdentity();
    await joinMesh(sys.url, { invite, identity, displayName: `member-${i}` });
    identities.push(identity);
  }
  const keys = identities.map((m) => m.publicKey);
  // Any member of the mesh may create epoch 1 of a public topic; later epochs come from members of the one before.
  const authorities = (_scope: string, epoch: number): readonly string[] => (epoch === 1 ? keys : []);
  const meshKey = generateMeshKey();
  const wsUrl = `${sys.url.replace(/^http/, 'ws')}/ws`;
  const members = await mapLimit(count, 32, async (i) => {
    const identity = identities[i]!;
    const client = new MeshClient({ url: wsUrl, meshId: mesh.mesh_id, identity, meshKey, resendAfterMs: 60_000 });
    const m: Member = { identity, client, ring: new EpochKeyring({ me: identity, meshId: mesh.mesh_id, authorities }), openedAt: new Map(), refused: [] };
    client.on('epoch', (e: EpochEvent) => {
      if (!e.manifest) return;
      const seals = e.seal ? [{ epoch: e.seal.epoch, seal: { recipient: e.seal.recipient, sealer: e.seal.sealer, sealed: e.seal.sealed, sig: e.seal.sig } }] : [];
      const result = m.ring.ingest(e.scope, [{ manifest: e.manifest.manifest, sig: e.manifest.sig }], seals);
      const now = performance.now();
      for (const epoch of result.opened) m.openedAt.set(`${e.scope}#${epoch}`, now);
      for (const r of result.refused) m.refused.push(`${e.scope}#${r.epoch}: ${r.code} ${r.message}`);
    });
    await client.connect();
    return m;
  });
  return { api, members };
}

/** A public topic of the given mode that every member joined (pushes reach a topic's members). */
async function topicFor(api: MeshApi, name: string, encryption: 'e2e' | 'plaintext', members: Member[]): Promise<void> {
  await api.createTopic({ name, encryption });
  await mapLimit(members.length, 8, (i) => api.addTopicMember(name, members[i]!.identity.publicKey));
}

/** Epoch 1 of an e2e topic, made by `creator` for `listed`; resolves once every listed member holds its key. */
async function firstEpoch(creator: Member, listed: Member[], topic: string, timeoutMs: number): Promise<void> {
  const scope = topicScope(topic);
  const pending = creator.ring.rotate(scope, { members: listed.map((m) => m.identity.publicKey), reason: 'create' });
  await creator.client.publishEpoch(pending.signed, pending.seals);
  creator.ring.accept(scope, pending);
  // The push normally brings it; a member whose push has not come yet fetches it.
  await mapLimit(listed.length, 16, async (i) => {
    const m = listed[i]!;
    if (m.ring.context(scope, 1) === null) await syncEpochs(m.client, m.ring, scope);
  });
  await waitUntil(() => listed.every((m) => m.ring.context(scope, 1) !== null), timeoutMs, `epoch 1 of #${topic} at every member`);
}

/** One measured fan-out: the sender posts `messages` with a window, every subscriber gets (and for e2e opens) each. */
async function fanoutPhase(sys: MeshSystem, peers: TopicMember[], o: TopicE2eOptions, messages: number, prefix: string): Promise<Record<string, unknown>> {
  const [sender, ...subscribers] = peers;
  const sampler = new PeakSampler(sys.serverPid);
  const tracker = new Tracker();
  tracker.attach(subscribers);
  for (const s of subscribers) {
    s.unopened = 0;
    s.openMs = 0;
  }
  const brokerCpu0 = cpuMs(sys.serverPid);
  const benchCpu0 = process.cpuUsage();
  try {
    const start = performance.now();
    let seq = 0;
    await Promise.all(
      Array.from({ length: o.window }, async () => {
        while (seq < messages) await tracker.send(sender!, '@topic', payload(`${prefix}${seq++}`, o.size));
      }),
    );
    const expected = messages * subscribers.length;
    await tracker.waitDelivered(expected, o.timeoutMs);
    const seconds = (performance.now() - start) / 1000;
    const unopened = subscribers.reduce((n, s) => n + s.unopened, 0);
    const openMs = subscribers.reduce((n, s) => n + s.openMs, 0);
    const brokerCpu1 = cpuMs(sys.serverPid);
    const benchCpu = process.cpuUsage(benchCpu0);
    return {
      ...tracker.summary(expected, seconds),
      unopened,
      // Where the time went: the broker's CPU, the load generator's (all 100 members, this process),
      // and of the latter the opening (signature check and AEAD) of every delivery.
      broker_cpu_ms: brokerCpu0 !== null && brokerCpu1 !== null ? brokerCpu1 - brokerCpu0 : null,
      bench_cpu_ms: round((benchCpu.user + benchCpu.system) / 1000, 0),
      open_ms: round(openMs, 0),
      open_us_per_delivery: tracker.delivered > 0 ? round((openMs * 1000) / tracker.delivered, 1) : null,
      ...sampler.stop(),
    };
  } finally {
    sampler.stop();
    tracker.detach();
    for (const p of peers) p.reset();
  }
}

/**
 * Rotations of a topic of `rotationMembers` members: the first member builds the next epoch (a
 * fresh key, the signed manifest, a seal per member) and publishes it; measured until the broker's
 * `epoch_ack` and until every other member has verified the manifest and opened its seal from the
 * `epoch_new` push. All members run in this one process, so the openings are done one after another.
 */
async function rotations(listed: Member[], o: TopicE2eOptions): Promise<Record<string, unknown>> {
  const scope = topicScope(ROTATION_TOPIC);
  const [rotator, ...others] = listed;
  const keys = listed.map((m) => m.identity.publicKey);
  const build: number[] = [];
  const ack: number[] = [];
  const all: number[] = [];
  for (let r = 0; r < o.rotations; r++) {
    const epoch = rotator!.ring.currentEpoch(scope) + 1;
    const key = `${scope}#${epoch}`;
    const t0 = performance.now();
    const pending = rotator!.ring.rotate(scope, { members: keys, reason: 'scheduled' });
    const built = performance.now();
    await rotator!.client.publishEpoch(pending.signed, pending.seals);
    rotator!.ring.accept(scope, pending);
    const acked = performance.now();
    await waitUntil(() => others.every((m) => m.openedAt.has(key)), o.timeoutMs, `every member to open epoch ${epoch}`);
    const last = Math.max(...others.map((m) => m.openedAt.get(key)!));
    build.push(built - t0);
    ack.push(acked - t0);
    all.push(last - t0);
    o.log(`  rotation to epoch ${epoch}: built ${round(built - t0)} ms, acked ${round(acked - t0)} ms, ${others.length} seals opened ${round(last - t0)} ms`);
  }
  const refused = listed.flatMap((m) => m.refused);
  return {
    members: listed.length,
    rotations: o.rotations,
    seals_per_rotation: listed.length,
    build_ms_median: median(build),
    ack_ms_median: median(ack),
    all_opened_ms_median: median(all),
    ack_ms: ack.map((x) => round(x)),
    all_opened_ms: all.map((x) => round(x)),
    refused: refused.length,
    target_ack_ms: 1000,
  };
}

/**
 * Fan-out 1 → `subscribers` to a plaintext topic and to an e2e topic, alternated `rounds` times on
 * one broker (medians; ratio = e2e / plaintext deliveries/s), then rotations of a `rotationMembers`
 * e2e topic. Every member is a real MeshClient with its own identity and keyring.
 */
export async function topicE2e(sys: MeshSystem, o: TopicE2eOptions): Promise<Record<string, unknown>> {
  const count = Math.max(o.subscribers + 1, o.rotationMembers);
  o.log(`  ${count} members, each with its own identity, WebSocket client and keyring`);
  const { api, members } = await setUp(sys, count);
  try {
    const fanMembers = members.slice(0, o.subscribers + 1);
    const keys = fanMembers.map((m) => m.identity.publicKey);
    await topicFor(api, PLAIN_TOPIC, 'plaintext', fanMembers);
    await topicFor(api, E2E_TOPIC, 'e2e', fanMembers);
    await firstEpoch(fanMembers[0]!, fanMembers, E2E_TOPIC, o.timeoutMs);
    const plain = fanMembers.map((m, i) => new TopicMember(i, m, PLAIN_TOPIC, false, keys));
    const e2e = fanMembers.map((m, i) => new TopicMember(i, m, E2E_TOPIC, true, keys));

    if (o.warmupMessages > 0) {
      o.log(`  warm-up: ${o.warmupMessages} messages to each topic`);
      await fanoutPhase(sys, plain, o, o.warmupMessages, 'wp');
      await fanoutPhase(sys, e2e, o, o.warmupMessages, 'we');
    }
    const rounds: Array<{ plaintext: Record<string, unknown>; e2e: Record<string, unknown> }> = [];
    for (let r = 0; r < o.rounds; r++) {
      // Alternating which goes first, so a drift in the machine's load hits both sides alike.
      const order: Array<'plaintext' | 'e2e'> = r % 2 === 0 ? ['plaintext', 'e2e'] : ['e2e', 'plaintext'];
      const row = {} as { plaintext: Record<string, unknown>; e2e: Record<string, unknown> };
      for (const kind of order) {
        row[kind] = await fanoutPhase(sys, kind === 'e2e' ? e2e : plain, o, o.messages, `${kind[0]}${r}-`);
        o.log(`  round ${r + 1} ${kind}: ${row[kind]['delivered']}/${o.messages * o.subscribers} deliveries, ${row[kind]['throughput_msgs_s']} deliveries/s, e2e p50 ${row[kind]['e2e_p50_ms']} ms`);
      }
      rounds.push(row);
    }
    const pick = (kind: 'plaintext' | 'e2e', field: string): number[] => rounds.map((r) => r[kind][field]).filter((x): x is number => typeof x === 'number');
    const e2eRate = median(pick('e2e', 'throughput_msgs_s'));
    const plainRate = median(pick('plaintext', 'throughput_msgs_s'));
    const sum = (kind: 'plaintext' | 'e2e', field: string): number => pick(kind, field).reduce((a, b) => a + b, 0);

    o.log(`  rotation: 1 member rotates #${ROTATION_TOPIC} for ${o.rotationMembers} members, ${o.rotations} times`);
    const listed = members.slice(0, o.rotationMembers);
    await api.createTopic({ name: ROTATION_TOPIC, encryption: 'e2e' });
    await firstEpoch(listed[0]!, listed, ROTATION_TOPIC, o.timeoutMs);
    const rotation = await rotations(listed, o);

    const ratio = e2eRate !== null && plainRate ? round(e2eRate / plainRate, 3) : null;
    return {
      peers: o.subscribers + 1,
      messages: o.messages,
      subscribers: o.subscribers,
      rounds: o.rounds,
      delivered: sum('e2e', 'delivered'),
      delivered_ratio: round(sum('e2e', 'delivered') / (o.rounds * o.messages * o.subscribers), 4),
      duplicates: sum('e2e', 'duplicates') + sum('plaintext', 'duplicates'),
      unopened: sum('e2e', 'unopened'),
      e2e_p50_ms: median(pick('e2e', 'e2e_p50_ms')),
      e2e_p99_ms: median(pick('e2e', 'e2e_p99_ms')),
      ack_p99_ms: median(pick('e2e', 'ack_p99_ms')),
      throughput_msgs_s: e2eRate,
      baseline_kind: PLAIN_BASELINE,
      baseline_throughput_msgs_s: plainRate,
      baseline_delivered: sum('plaintext', 'delivered'),
      baseline_e2e_p50_ms: median(pick('plaintext', 'e2e_p50_ms')),
      baseline_e2e_p99_ms: median(pick('plaintext', 'e2e_p99_ms')),
      ratio_to_baseline: ratio,
      target_ratio: 0.8,
      // Per phase (medians): CPU of the broker and of this process, which runs every member.
      broker_cpu_ms: median(pick('e2e', 'broker_cpu_ms')),
      baseline_broker_cpu_ms: median(pick('plaintext', 'broker_cpu_ms')),
      bench_cpu_ms: median(pick('e2e', 'bench_cpu_ms')),
      baseline_bench_cpu_ms: median(pick('plaintext', 'bench_cpu_ms')),
      open_us_per_delivery: median(pick('e2e', 'open_us_per_delivery')),
      rotation_ack_ms: rotation['ack_ms_median'],
      rotation_all_opened_ms: rotation['all_opened_ms_median'],
      rotation,
      per_round: rounds.map((r) => ({
        plaintext_msgs_s: r.plaintext['throughput_msgs_s'],
        e2e_msgs_s: r.e2e['throughput_msgs_s'],
        ratio: typeof r.e2e['throughput_msgs_s'] === 'number' && typeof r.plaintext['throughput_msgs_s'] === 'number' && r.plaintext['throughput_msgs_s'] > 0
          ? round(r.e2e['throughput_msgs_s'] / r.plaintext['throughput_msgs_s'], 3)
          : null,
      })),
      phases: rounds,
    };
  } finally {
    await Promise.all(members.map((m) => m.client.close()));
  }
}

/** The human line of a topic-e2e row. */
export function topicE2eLine(row: Record<string, unknown>): string {
  const ok = (x: unknown, target: number, below: boolean): string => (typeof x !== 'number' ? '' : (below ? x < target : x >= target) ? ' ✓' : ' ✗');
  return [
    `topic-e2e (${row['db']}): 1 → ${row['subscribers']} fan-out, ${row['messages']} messages × ${row['rounds']} rounds:`,
    `e2e ${row['throughput_msgs_s']} deliveries/s (p50 ${row['e2e_p50_ms']} / p99 ${row['e2e_p99_ms']} ms, ${row['delivered']} delivered, ${row['unopened']} unopened),`,
    `plaintext ${row['baseline_throughput_msgs_s']} deliveries/s (p50 ${row['baseline_e2e_p50_ms']} / p99 ${row['baseline_e2e_p99_ms']} ms),`,
    `e2e/plaintext ${row['ratio_to_baseline']}${ok(row['ratio_to_baseline'], 0.8, false)}`,
    `(CPU per phase: broker ${row['broker_cpu_ms']} vs ${row['baseline_broker_cpu_ms']} ms, load generator ${row['bench_cpu_ms']} vs ${row['baseline_bench_cpu_ms']} ms, opening ${row['open_us_per_delivery']} µs a delivery);`,
    `rotation of ${(row['rotation'] as Record<string, unknown>)['members']} members: ack ${row['rotation_ack_ms']} ms${ok(row['rotation_ack_ms'], 1000, true)},`,
    `all ${Number((row['rotation'] as Record<string, unknown>)['members']) - 1} opened ${row['rotation_all_opened_ms']} ms (medians)`,
  ].join(' ');
}
