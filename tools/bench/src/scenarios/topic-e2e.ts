import {
  EpochKeyring, MeshApi, MeshClient, createApiKey, createMesh, ingestEvent, issueInvite, joinMesh, openTopicMessage, ProtocolError, syncEpochs, topicSendEncrypted,
  type EpochEvent, type SealedTopicTransport, type TopicMessage,
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
  /** Probe subscribers: in the primary e2e phase they open and verify every message, the others only count the sealed copies. */
  probes: number;
  /** Which e2e phases run: `probes` (primary), `all` (secondary: every subscriber opens) or `both`. */
  open: OpenOption;
  log: (line: string) => void;
}

/** One member: its identity, its WebSocket client and its keyring, fed by every `epoch_new` push. */
interface Member {
  identity: Identity;
  client: MeshClient;
  ring: EpochKeyring;
  /**
   * Whether this member opens the epochs pushed to it (verifies the manifest, opens its seal). A
   * subscriber that only counts sealed copies needs no key, so in the primary phase it opens none:
   * like its share of the messages, its share of every rotation is a receiver's own work, done on
   * its own machine in a real mesh, not in one shared process. Probes and the sender always do.
   */
  keeps: boolean;
  /** When this member opened each (scope, epoch) key from a push, by `${scope}#${epoch}`. */
  openedAt: Map<string, number>;
  /** Seals or manifests a push brought that this keyring refused. */
  refused: string[];
}

/** Who opens e2e messages in an e2e phase: the probe subscribers only (the primary figure), or every subscriber (the secondary). */
export type OpenMode = 'probes' | 'all';
/** The kinds of measured phase: the plaintext baseline, e2e with probes opening, e2e with every subscriber opening. */
type Kind = 'plaintext' | 'e2e' | 'e2e_all';

/** Which e2e phases a run measures (`--open`): both by default. */
export type OpenOption = OpenMode | 'both';

/** The token a payload starts with (up to the first space), as the Tracker keys it. */
const tokenOf = (text: string): string => {
  const space = text.indexOf(' ');
  return space < 0 ? text : text.slice(0, space);
};

/**
 * A member sending to or receiving a topic. Plaintext: the text as pushed. e2e: the sender seals
 * every post for real (topicSendEncrypted); a receiver that `opens` runs openTopicMessage (the
 * sender's signature, then the AEAD) on every push, one that does not checks that the push is a
 * sealed body_version 2 message with its ciphertext and counts it, by its client id, without opening.
 */
class TopicMember implements BenchPeer {
  private handlers: Array<(text: string) => void> = [];
  /** Whether this receiver opens each e2e message (a probe, or every subscriber in the all-open phase). */
  opens = false;
  /** e2e messages an opener got that did not open (a refusal or a missing key). */
  unopened = 0;
  /** e2e messages an opener opened. */
  opened = 0;
  /** Time spent in openTopicMessage while measuring (ms). */
  openMs = 0;
  /** Pushes that were not what the topic's mode says (plaintext: not body_version 1; e2e: not body_version 2 with nonce, ciphertext and signature). */
  malformed = 0;
  /** Sealed pushes a non-opener could not match to a post of this phase (by client id). */
  unmatched = 0;
  /** Epochs this sender published (scheduled rotations, every 100 messages by default, made ahead of the bound). */
  rotations = 0;
  /** Wall time of those publishes (ms), to the broker's ack of the new epoch; made in the background, sends go on meanwhile. */
  rotationMs = 0;
  /** Posts the broker refused as E_EPOCH_STALE (sealed under an epoch replaced while in flight, or at the bound): each sealed again. */
  staleRefusals = 0;

  constructor(
    readonly index: number,
    private readonly m: Member,
    private readonly topic: string,
    private readonly e2e: boolean,
    private readonly members: readonly string[],
    /** client id → payload token of each post the sender sealed (bookkeeping for a non-opener's count and latency, never its text). */
    private readonly sealedIds: Map<string, string>,
  ) {
    m.client.on('topic', (msg: TopicMessage) => {
      if (msg.topic !== this.topic || this.handlers.length === 0) return;
      let text: string | null;
      if (!this.e2e) {
        if (msg.body_version !== 1) {
          this.malformed += 1;
          return;
        }
        text = msg.text ?? '';
      } else if (this.opens) {
        // Opened and verified (signature, then AEAD) with this member's keyring.
        const t0 = performance.now();
        const opened = openTopicMessage(this.m.ring, msg);
        this.openMs += performance.now() - t0;
        text = opened.text;
        if (text === null || msg.body_version !== 2) {
          this.unopened += 1;
          return;
        }
        this.opened += 1;
      } else {
        if (msg.body_version !== 2 || !msg.ciphertext || !msg.nonce || !msg.sig || msg.text) {
          this.malformed += 1;
          return;
        }
        const token = this.sealedIds.get(msg.client_id);
        if (token === undefined) {
          this.unmatched += 1;
          return;
        }
        text = token;
      }
      for (const h of this.handlers) h(text);
    });
  }

  async send(_to: number | `@${string}`, text: string): Promise<void> {
    if (!this.e2e) {
      await this.m.client.topicSend(this.topic, text);
      return;
    }
    const c = this.m.client;
    const token = tokenOf(text);
    // The client itself, but noting each sealed post's client id before it goes out (a stale-epoch
    // retry seals under a new id), counting the posts the broker refused as stale, and timing each
    // epoch the sender publishes: the SDK rotates in the background when an ack says the epoch nears
    // its scheduled rotation (every 100 messages by default), so the sends go on meanwhile.
    const transport: SealedTopicTransport = {
      // The WebSocket's publish order (docs/protocol.md §5.6): sends seal under a new epoch as soon as its publish is written.
      ordersPublishes: c.ordersPublishes,
      getEpochs: (s, after) => c.getEpochs(s, after),
      publishEpoch: async (signed, seals, o) => {
        this.rotations += 1;
        const t0 = performance.now();
        try {
          return await c.publishEpoch(signed, seals, o);
        } finally {
          this.rotationMs += performance.now() - t0;
        }
      },
      addSeals: (s, epoch, seals) => c.addSeals(s, epoch, seals),
      topicSendSealed: async (topic, id, body, options) => {
        this.sealedIds.set(id, token);
        try {
          return await c.topicSendSealed(topic, id, body, options);
        } catch (error) {
          if (error instanceof ProtocolError && error.code === 'E_EPOCH_STALE') this.staleRefusals += 1;
          throw error;
        }
      },
    };
    await topicSendEncrypted(transport, this.m.ring, this.topic, text, { members: async () => this.members });
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
async function setUp(sys: MeshSystem, count: number): Promise<{ api: MeshApi; owner: Identity; members: Member[] }> {
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
    const m: Member = { identity, client, ring: new EpochKeyring({ me: identity, meshId: mesh.mesh_id, authorities }), keeps: true, openedAt: new Map(), refused: [] };
    client.on('epoch', (e: EpochEvent) => {
      if (!e.manifest || !m.keeps) return;
      const result = ingestEvent(m.ring, e);
      const now = performance.now();
      for (const epoch of result.opened) m.openedAt.set(`${e.scope}#${epoch}`, now);
      for (const r of result.refused) m.refused.push(`${e.scope}#${r.epoch}: ${r.code} ${r.message}`);
    });
    await client.connect();
    return m;
  });
  return { api, owner, members };
}

/** A public topic of the given mode that every member joined (pushes reach a topic's members). */
async function topicFor(api: MeshApi, name: string, encryption: 'e2e' | 'plaintext', members: Member[]): Promise<void> {
  await api.createTopic({ name, encryption });
  await mapLimit(members.length, 8, (i) => api.addTopicMember(name, members[i]!.identity.publicKey));
}

/**
 * Epoch 1 of an e2e topic, made by `creator` for `listed` (and `alsoListed`, keys with no client
 * here); resolves once every listed member holds its key.
 */
async function firstEpoch(creator: Member, listed: Member[], topic: string, timeoutMs: number, alsoListed: readonly string[] = []): Promise<void> {
  const scope = topicScope(topic);
  const pending = creator.ring.rotate(scope, { members: [...alsoListed, ...listed.map((m) => m.identity.publicKey)], reason: 'create' });
  await creator.client.publishEpoch(pending.signed, pending.seals);
  creator.ring.accept(scope, pending);
  // The push normally brings it; a member whose push has not come yet fetches it.
  await mapLimit(listed.length, 16, async (i) => {
    const m = listed[i]!;
    if (m.ring.context(scope, 1) === null) await syncEpochs(m.client, m.ring, scope);
  });
  await waitUntil(() => listed.every((m) => m.ring.context(scope, 1) !== null), timeoutMs, `epoch 1 of #${topic} at every member`);
}

/**
 * One measured fan-out: the sender posts `messages` with a window, every subscriber gets each. For
 * e2e, the subscribers with `opens` set open and verify each; the others check it is sealed and count it.
 */
async function fanoutPhase(sys: MeshSystem, peers: TopicMember[], o: TopicE2eOptions, messages: number, prefix: string, sealedIds: Map<string, string>): Promise<Record<string, unknown>> {
  const [sender, ...subscribers] = peers;
  const sampler = new PeakSampler(sys.serverPid);
  const tracker = new Tracker();
  tracker.attach(subscribers);
  for (const s of subscribers) {
    s.unopened = 0;
    s.opened = 0;
    s.openMs = 0;
    s.malformed = 0;
    s.unmatched = 0;
  }
  sender!.rotations = 0;
  sender!.rotationMs = 0;
  sender!.staleRefusals = 0;
  const openers = subscribers.filter((s) => s.opens);
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
    const total = (f: (s: TopicMember) => number): number => subscribers.reduce((n, s) => n + f(s), 0);
    const opened = total((s) => s.opened);
    const openMs = total((s) => s.openMs);
    const brokerCpu1 = cpuMs(sys.serverPid);
    const benchCpu = process.cpuUsage(benchCpu0);
    return {
      ...tracker.summary(expected, seconds),
      openers: openers.length,
      opened,
      opened_expected: messages * openers.length,
      unopened: total((s) => s.unopened),
      malformed: total((s) => s.malformed),
      unmatched: total((s) => s.unmatched),
      sender_rotations: sender!.rotations,
      sender_rotation_ms: round(sender!.rotationMs, 0),
      stale_refusals: sender!.staleRefusals,
      // Where the time went: the broker's CPU, the load generator's (every member, this process),
      // and of the latter the opening (signature check and AEAD) of each opened message.
      broker_cpu_ms: brokerCpu0 !== null && brokerCpu1 !== null ? brokerCpu1 - brokerCpu0 : null,
      bench_cpu_ms: round((benchCpu.user + benchCpu.system) / 1000, 0),
      open_ms: round(openMs, 0),
      open_us_per_message: opened > 0 ? round((openMs * 1000) / opened, 1) : null,
      ...sampler.stop(),
    };
  } finally {
    sampler.stop();
    tracker.detach();
    sealedIds.clear();
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
 * Sets which members open the epochs pushed to them (`keep(i)`); one that starts again first syncs
 * `topic`'s epochs it let pass (before the phase, not measured), so it holds the current key.
 */
async function keepKeys(members: Member[], keep: (i: number) => boolean, topic: string): Promise<void> {
  await mapLimit(members.length, 16, async (i) => {
    const m = members[i]!;
    const was = m.keeps;
    m.keeps = keep(i);
    if (m.keeps && !was) await syncEpochs(m.client, m.ring, topicScope(topic));
  });
}

/** Which subscribers open in a phase of `kind` (the first `probes` subscribers are the probes). */
function setOpeners(peers: TopicMember[], kind: Kind, probes: number): void {
  peers.forEach((p, i) => {
    p.opens = kind === 'e2e_all' ? i > 0 : kind === 'e2e' ? i > 0 && i <= probes : false;
  });
}

const KIND_LABEL: Record<Kind, string> = { plaintext: 'plaintext', e2e: 'e2e, probes open', e2e_all: 'e2e, all open' };

/**
 * Fan-out 1 → `subscribers` to a plaintext topic and to an e2e topic on one broker, in rounds that
 * rotate the order of their phases: plaintext; e2e where `probes` subscribers open and verify every
 * message and the others count the sealed copies (the primary figure: what the encrypted mode costs
 * the broker and the sender, plus one opening per receiver); e2e where every subscriber opens, all
 * in this one process (the secondary figure). Medians; ratios = e2e / plaintext deliveries/s. Then
 * rotations of a `rotationMembers` e2e topic. Every member is a real MeshClient with its own
 * identity and keyring.
 */
export async function topicE2e(sys: MeshSystem, o: TopicE2eOptions): Promise<Record<string, unknown>> {
  const count = Math.max(o.subscribers + 1, o.rotationMembers);
  const probes = Math.min(Math.max(0, o.probes), o.subscribers);
  const kinds: Kind[] = ['plaintext', ...(o.open === 'all' ? [] : ['e2e' as const]), ...(o.open === 'probes' ? [] : ['e2e_all' as const])];
  o.log(`  ${count} members, each with its own identity, WebSocket client and keyring; ${probes} probe subscriber(s); phases: ${kinds.map((k) => KIND_LABEL[k]).join(' · ')}`);
  const { api, owner, members } = await setUp(sys, count);
  try {
    const fanMembers = members.slice(0, o.subscribers + 1);
    // Every member of the mesh with a key may read a public topic, so its epochs list them all: the
    // owner too (it runs no client here), or the broker refuses the send until a rotation adds it.
    const keys = [owner.publicKey, ...fanMembers.map((m) => m.identity.publicKey)];
    await topicFor(api, PLAIN_TOPIC, 'plaintext', fanMembers);
    await topicFor(api, E2E_TOPIC, 'e2e', fanMembers);
    await firstEpoch(fanMembers[0]!, fanMembers, E2E_TOPIC, o.timeoutMs, [owner.publicKey]);
    const sealedIds = new Map<string, string>();
    const plain = fanMembers.map((m, i) => new TopicMember(i, m, PLAIN_TOPIC, false, keys, sealedIds));
    const e2e = fanMembers.map((m, i) => new TopicMember(i, m, E2E_TOPIC, true, keys, sealedIds));
    const phase = async (kind: Kind, messages: number, prefix: string): Promise<Record<string, unknown>> => {
      const peers = kind === 'plaintext' ? plain : e2e;
      setOpeners(peers, kind, probes);
      if (kind !== 'plaintext') await keepKeys(fanMembers, (i) => i === 0 || peers[i]!.opens, E2E_TOPIC);
      return fanoutPhase(sys, peers, o, messages, prefix, sealedIds);
    };

    if (o.warmupMessages > 0) {
      o.log(`  warm-up: ${o.warmupMessages} messages in each phase`);
      for (const kind of kinds) await phase(kind, o.warmupMessages, `w${kind}-`);
    }
    const rounds: Array<Partial<Record<Kind, Record<string, unknown>>>> = [];
    for (let r = 0; r < o.rounds; r++) {
      // Rotating which goes first, so a drift in the machine's load hits every side alike.
      const order = kinds.map((_, i) => kinds[(i + r) % kinds.length]!);
      const row: Partial<Record<Kind, Record<string, unknown>>> = {};
      for (const kind of order) {
        const res = await phase(kind, o.messages, `${kind}${r}-`);
        row[kind] = res;
        const opening = kind === 'plaintext' ? '' : `, ${res['opened']}/${res['opened_expected']} opened by ${res['openers']}`;
        o.log(`  round ${r + 1} ${KIND_LABEL[kind]}: ${res['delivered']}/${o.messages * o.subscribers} deliveries${opening}, ${res['throughput_msgs_s']} deliveries/s, e2e p50 ${res['e2e_p50_ms']} ms`);
      }
      rounds.push(row);
    }
    const pick = (kind: Kind, field: string): number[] => rounds.map((r) => r[kind]?.[field]).filter((x): x is number => typeof x === 'number');
    const sum = (kind: Kind, field: string): number => pick(kind, field).reduce((a, b) => a + b, 0);
    const ran = (kind: Kind): boolean => kinds.includes(kind);
    const plainRate = median(pick('plaintext', 'throughput_msgs_s'));
    const rate = (kind: Kind): number | null => median(pick(kind, 'throughput_msgs_s'));
    const ratioOf = (kind: Kind): number | null => {
      const x = rate(kind);
      return x !== null && plainRate ? round(x / plainRate, 3) : null;
    };
    const expected = o.rounds * o.messages * o.subscribers;
    /** The figures of one e2e kind, under `prefix` (the primary's bare, the all-open one's as `all_open_`). */
    const figures = (kind: Kind, prefix: string): Record<string, unknown> => (!ran(kind) ? { [`${prefix}throughput_msgs_s`]: null, [`${prefix}ratio_to_baseline`]: null } : {
      [`${prefix}throughput_msgs_s`]: rate(kind),
      [`${prefix}ratio_to_baseline`]: ratioOf(kind),
      [`${prefix}delivered`]: sum(kind, 'delivered'),
      [`${prefix}delivered_ratio`]: round(sum(kind, 'delivered') / expected, 4),
      [`${prefix}openers`]: kind === 'e2e' ? probes : o.subscribers,
      [`${prefix}opened`]: sum(kind, 'opened'),
      [`${prefix}opened_expected`]: sum(kind, 'opened_expected'),
      [`${prefix}unopened`]: sum(kind, 'unopened'),
      [`${prefix}malformed`]: sum(kind, 'malformed'),
      [`${prefix}unmatched`]: sum(kind, 'unmatched'),
      [`${prefix}sender_rotations`]: sum(kind, 'sender_rotations'),
      [`${prefix}sender_rotation_ms`]: median(pick(kind, 'sender_rotation_ms')),
      [`${prefix}stale_refusals`]: sum(kind, 'stale_refusals'),
      [`${prefix}duration_s`]: median(pick(kind, 'duration_s')),
      [`${prefix}e2e_p50_ms`]: median(pick(kind, 'e2e_p50_ms')),
      [`${prefix}e2e_p99_ms`]: median(pick(kind, 'e2e_p99_ms')),
      [`${prefix}ack_p99_ms`]: median(pick(kind, 'ack_p99_ms')),
      [`${prefix}broker_cpu_ms`]: median(pick(kind, 'broker_cpu_ms')),
      [`${prefix}bench_cpu_ms`]: median(pick(kind, 'bench_cpu_ms')),
      [`${prefix}open_us_per_message`]: median(pick(kind, 'open_us_per_message')),
    });

    o.log(`  rotation: 1 member rotates #${ROTATION_TOPIC} for ${o.rotationMembers} members, ${o.rotations} times`);
    const listed = members.slice(0, o.rotationMembers);
    await keepKeys(members, () => true, E2E_TOPIC);
    await api.createTopic({ name: ROTATION_TOPIC, encryption: 'e2e' });
    await firstEpoch(listed[0]!, listed, ROTATION_TOPIC, o.timeoutMs);
    const rotation = await rotations(listed, o);

    const roundRatio = (r: Partial<Record<Kind, Record<string, unknown>>>, kind: Kind): number | null => {
      const x = r[kind]?.['throughput_msgs_s'];
      const b = r.plaintext?.['throughput_msgs_s'];
      return typeof x === 'number' && typeof b === 'number' && b > 0 ? round(x / b, 3) : null;
    };
    return {
      peers: o.subscribers + 1,
      messages: o.messages,
      subscribers: o.subscribers,
      rounds: o.rounds,
      probes,
      open: o.open,
      // Primary: probes open, the other subscribers count the sealed copies (the ratio held against the 0.8 target).
      ...figures('e2e', ''),
      // Secondary: every subscriber opens every message, all of them in this one process.
      ...figures('e2e_all', 'all_open_'),
      duplicates: kinds.reduce((n, k) => n + sum(k, 'duplicates'), 0),
      baseline_kind: PLAIN_BASELINE,
      baseline_throughput_msgs_s: plainRate,
      baseline_delivered: sum('plaintext', 'delivered'),
      baseline_malformed: sum('plaintext', 'malformed'),
      baseline_e2e_p50_ms: median(pick('plaintext', 'e2e_p50_ms')),
      baseline_e2e_p99_ms: median(pick('plaintext', 'e2e_p99_ms')),
      baseline_broker_cpu_ms: median(pick('plaintext', 'broker_cpu_ms')),
      baseline_bench_cpu_ms: median(pick('plaintext', 'bench_cpu_ms')),
      baseline_duration_s: median(pick('plaintext', 'duration_s')),
      target_ratio: 0.8,
      rotation_ack_ms: rotation['ack_ms_median'],
      rotation_all_opened_ms: rotation['all_opened_ms_median'],
      rotation,
      per_round: rounds.map((r) => ({
        plaintext_msgs_s: r.plaintext?.['throughput_msgs_s'] ?? null,
        e2e_msgs_s: r.e2e?.['throughput_msgs_s'] ?? null,
        ratio: roundRatio(r, 'e2e'),
        all_open_msgs_s: r.e2e_all?.['throughput_msgs_s'] ?? null,
        all_open_ratio: roundRatio(r, 'e2e_all'),
      })),
      phases: rounds,
    };
  } finally {
    await Promise.all(members.map((m) => m.client.close()));
  }
}

/** The human line of a topic-e2e row: the primary (probes) figure, the secondary (all open) one, rotation. */
export function topicE2eLine(row: Record<string, unknown>): string {
  const ok = (x: unknown, target: number, below: boolean): string => (typeof x !== 'number' ? '' : (below ? x < target : x >= target) ? ' ✓' : ' ✗');
  const rotation = row['rotation'] as Record<string, unknown>;
  const parts = [
    `topic-e2e (${row['db']}): 1 → ${row['subscribers']} fan-out, ${row['messages']} messages × ${row['rounds']} rounds:`,
    `plaintext ${row['baseline_throughput_msgs_s']} deliveries/s (p50 ${row['baseline_e2e_p50_ms']} / p99 ${row['baseline_e2e_p99_ms']} ms, broker CPU ${row['baseline_broker_cpu_ms']} ms, load generator ${row['baseline_bench_cpu_ms']} ms a phase);`,
  ];
  if (row['throughput_msgs_s'] !== null) {
    parts.push(
      `PRIMARY (${row['probes']} probe(s) open and verify, the other ${Number(row['subscribers']) - Number(row['probes'])} count the sealed copies): e2e ${row['throughput_msgs_s']} deliveries/s`,
      `(p50 ${row['e2e_p50_ms']} / p99 ${row['e2e_p99_ms']} ms, ${row['delivered']} delivered, ${row['malformed']} not sealed, ${row['sender_rotations']} scheduled rotations made ahead (${row['sender_rotation_ms']} ms of publishing a phase, ${row['stale_refusals']} posts sealed again); probes opened ${row['opened']}/${row['opened_expected']}, ${row['unopened']} unopened, ${row['open_us_per_message']} µs a message;`,
      `broker CPU ${row['broker_cpu_ms']} ms, load generator ${row['bench_cpu_ms']} ms a phase), e2e/plaintext ${row['ratio_to_baseline']}${ok(row['ratio_to_baseline'], 0.8, false)};`,
    );
  }
  if (row['all_open_throughput_msgs_s'] !== null) {
    parts.push(
      `SECONDARY (all ${row['subscribers']} open and verify, in this one process): e2e ${row['all_open_throughput_msgs_s']} deliveries/s`,
      `(p50 ${row['all_open_e2e_p50_ms']} / p99 ${row['all_open_e2e_p99_ms']} ms, ${row['all_open_delivered']} delivered, ${row['all_open_sender_rotations']} scheduled rotations, ${row['all_open_unopened']} unopened, ${row['all_open_open_us_per_message']} µs a message;`,
      `broker CPU ${row['all_open_broker_cpu_ms']} ms, load generator ${row['all_open_bench_cpu_ms']} ms a phase), e2e/plaintext ${row['all_open_ratio_to_baseline']};`,
    );
  }
  parts.push(
    `rotation of ${rotation['members']} members: ack ${row['rotation_ack_ms']} ms${ok(row['rotation_ack_ms'], 1000, true)},`,
    `all ${Number(rotation['members']) - 1} opened ${row['rotation_all_opened_ms']} ms (medians)`,
  );
  return parts.join(' ');
}
