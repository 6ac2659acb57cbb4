import {
  EpochKeyring, MeshApi, MeshClient, ProtocolError, createApiKey, ingestEvent, keyringAuthorities, loadMeshes, meshMembersWithKeys, openTopicMessage, openTopicMessages, topicSendEncrypted, wsUrlOf,
  type EpochEvent, type InboundMessage, type StoredMesh, type TopicMessage,
} from '@claudemesh/core';
import { encodeBody } from '@claudemesh/core/body';
import { cryptoReady, fromB64u, parseIdentity } from '@claudemesh/crypto';
import { join } from 'node:path';
import { KeyringLog, type PluginContext, type RunningPlugin } from '@claudemesh/plugin';
import { type BridgeConfig } from './config.js';
import { forwardId, hopsOf } from './envelope.js';
import { BridgeState } from './state.js';

export { BridgeConfig } from './config.js';
export { forwardId, hopsOf } from './envelope.js';

interface Side {
  mesh: StoredMesh;
  client: MeshClient;
  ring: EpochKeyring;
  key: string;
}

/** Where a lane reads or writes: a topic, or a group's messages (`@name`, `*`). */
type Place = { topic: string; group?: undefined } | { group: string; topic?: undefined };

interface Lane {
  id: string;
  from: Side;
  fromTopic: string;
  /** A group lane (its source is `@group` or `*` pushes, not a topic): the target as sent, `@name` or `*`. */
  fromGroup: string | null;
  to: Side;
  to_: Place;
  /** The destination as a label and as the forward id's last part: `#topic`, `@group` or `*`. */
  toLabel: string;
  draining: Promise<void> | null;
  again: boolean;
  /** Forwards issued and not yet settled, in source order; the cursor moves past each as it settles. */
  inFlight: Array<{ id: string; done: Promise<void> }>;
  /** The settling of `inFlight`'s head, when one runs. */
  settling: Promise<void> | null;
  /**
   * Forwards started from the topic's pushes, by source message id, before the lane's read of the
   * history reached them: the read takes each over (settling it in order) instead of forwarding
   * it again. A push only makes a message go out sooner; the cursor still moves by the read.
   */
  pushed: Map<string, Promise<void>>;
}

/** Forwards started from pushes and not yet taken over by the lane's read, at most, per lane: past it, the read forwards. */
const MAX_PUSHED = 256;
/** How long the read that settles forwards started from pushes waits, to take over many at once. */
const SETTLE_READ_DELAY_MS = 50;

const targetOf = (group: string): string => (group === '*' ? '*' : `@${group}`);
const placeOf = (e: { topic?: string | undefined; group?: string | undefined }): Place => (e.topic !== undefined ? { topic: e.topic } : { group: e.group! });
const labelOf = (p: Place): string => (p.topic !== undefined ? `#${p.topic}` : targetOf(p.group));

/**
 * A bridge (docs/plugins.md "Bridge"): a peer in two or more meshes that forwards topics between
 * them. Each direction of a route is a lane that reads its source topic in id order (from a cursor
 * kept in the bridge's home), opens each message with its keyring of that mesh, and posts it to the
 * destination topic — sealed again under that mesh's epoch for an e2e topic — inside an envelope
 * that says who wrote it in which mesh and which meshes it crossed. A message that already crossed
 * `max_hops` meshes, or was ever in the destination mesh, is not forwarded: two bridges in a ring
 * do not loop.
 */
export async function startBridge(ctx: PluginContext<BridgeConfig>): Promise<RunningPlugin> {
  await cryptoReady();
  const cfg = ctx.config;
  const joined = loadMeshes(ctx.home);
  const find = (selector: string): StoredMesh => {
    const m = joined.filter((x) => x.mesh_id === selector || x.mesh_name === selector);
    if (m.length !== 1) {
      throw new Error(`mesh "${selector}" is ${m.length === 0 ? 'not joined' : 'ambiguous'} in ${ctx.home} (joined: ${joined.map((x) => x.mesh_name).join(', ') || 'none'}); join it with CLAUDEMESH_HOME=${ctx.home} claudemesh join <invite link>`);
    }
    return m[0]!;
  };
  const counters = { forwarded: 0, duplicates: 0, skipped_hops: 0, skipped_path: 0, skipped_filter: 0, waiting_for_key: 0, errors: 0 };
  const sides = new Map<string, Side>();
  // One append-only log per mesh (bridge/keyrings/<mesh_id>.jsonl); the whole-keyring file of earlier versions is read once and replaced.
  const keyrings = join(ctx.home, 'bridge', 'keyrings');
  const rings = new KeyringLog({ file: (id) => join(keyrings, `${id}.jsonl`), legacyFile: (id) => join(keyrings, `${id}.json`) });
  const saveRing = (side: Side): void => rings.save(side.mesh.mesh_id, side.ring);
  const sideOf = async (selector: string): Promise<Side> => {
    const mesh = find(selector);
    const known = sides.get(mesh.mesh_id);
    if (known) return known;
    const identity = parseIdentity(mesh.identity);
    let side: Side | null = null;
    let ringReady!: (r: EpochKeyring) => void;
    const ringLoaded = new Promise<EpochKeyring>((r) => (ringReady = r));
    const before: InboundMessage[] = [];
    // One keyring per mesh for its topics and its mesh scope (@group and * under mesh epochs),
    // loaded once connected: its authorities come from the peer list.
    const client: MeshClient = new MeshClient({
      url: wsUrlOf(mesh.broker_url), meshId: mesh.mesh_id, identity, ...(mesh.mesh_key ? { meshKey: fromB64u(mesh.mesh_key) } : {}),
      peerType: 'connector', reconnect: true, clientName: `bridge/${ctx.instance}`,
      // A group message is confirmed once forwarded (or judged not to be): a crash before that leaves it queued at the broker.
      autoDelivered: false,
      keyring: () => ringLoaded,
      onKeyringChange: () => side && saveRing(side),
    });
    client.on('error', (e) => ctx.log(`${mesh.mesh_name}: ${e.message}`));
    // Pushes that will never open are confirmed, or the broker would push them on every connection.
    client.on('decrypt_error', (e: { messageId: string; reason: string }) => {
      if (e.reason !== 'waiting_for_key') client.confirmDelivered([e.messageId]);
    });
    client.on('message', (m: InboundMessage) => (side ? onMessage(side, m) : before.push(m)));
    await client.connect();
    const ring = new EpochKeyring({ me: identity, meshId: mesh.mesh_id, authorities: keyringAuthorities(await client.listPeers()) });
    const kept = rings.load(mesh.mesh_id, ring);
    if (kept.skipped > 0) ctx.log(`${mesh.mesh_name}: ${kept.skipped} line(s) of the kept keyring unreadable (a write cut short); their keys are fetched again`);
    ringReady(ring);
    side = { mesh, client, ring, key: identity.publicKey };
    // Epochs pushed as they are published (the topics' rotations included) go straight into the
    // keyring: a push under a new epoch then opens at once, not after a read and a sync.
    client.on('epoch', (e: EpochEvent) => {
      try {
        ingestEvent(ring, e);
      } catch (error) {
        // What does not verify is not kept; a lane's read syncs the scope from the broker instead.
        ctx.log(`${mesh.mesh_name}: epoch ${e.epoch} of ${e.scope} not taken: ${(error as Error).message}`);
      }
      if (side) saveRing(side);
    });
    for (const m of before.splice(0)) onMessage(side, m);
    sides.set(mesh.mesh_id, side);
    return side;
  };

  const laneName = (l: Lane): string => `${l.from.mesh.mesh_name}${l.fromGroup ?? `#${l.fromTopic}`} → ${l.to.mesh.mesh_name}${l.toLabel}`;

  /**
   * A push to the bridge. A group or broadcast message of a group lane is forwarded on each of its
   * lanes, retried until it lands, then confirmed: the broker keeps it queued until then, so a
   * crash forwards it again after the restart, under the same id (a duplicate, answered as one).
   * Anything else is confirmed at once (nobody reads the bridge's DMs).
   */
  let groupsReady = false;
  const early: Array<[Side, InboundMessage]> = [];
  const groupWork = new Set<Promise<void>>();
  const onMessage = (side: Side, m: InboundMessage): void => {
    if (!groupsReady) {
      early.push([side, m]);
      return;
    }
    const matching = m.kind === 'dm' ? [] : groupLanes.filter((l) => l.from === side && l.fromGroup === m.to);
    if (matching.length === 0 || m.from.memberPubkey === side.key) {
      side.client.confirmDelivered([m.messageId]);
      return;
    }
    const work = (async () => {
      for (const lane of matching) {
        for (let attempt = 0; ; attempt++) {
          if (stopping) return;
          try {
            await forward(lane, { id: m.messageId, sender: m.from.displayName, sealed: true }, m.text);
            break;
          } catch (error) {
            counters.errors += 1;
            ctx.log(`lane ${laneName(lane)}: ${(error as Error).message}; again in ${Math.min(30_000, 250 * 2 ** attempt)} ms`);
            await new Promise((r) => setTimeout(r, Math.min(30_000, 250 * 2 ** attempt)));
          }
        }
      }
      if (!stopping) side.client.confirmDelivered([m.messageId]);
    })();
    groupWork.add(work);
    void work.finally(() => groupWork.delete(work));
  };

  const state = new BridgeState(ctx.home);
  const lanes: Lane[] = [];
  for (const route of cfg.routes) {
    const a = await sideOf(route.from.mesh);
    const b = await sideOf(route.to.mesh);
    const ends = [placeOf(route.from), placeOf(route.to)] as const;
    if (a === b && labelOf(ends[0]) === labelOf(ends[1])) throw new Error(`route ${route.from.mesh}${labelOf(ends[0])} → itself`);
    const pairs: Array<[Side, Place, Side, Place]> = [[a, ends[0], b, ends[1]]];
    if (route.both_ways) pairs.push([b, ends[1], a, ends[0]]);
    for (const [from, src, to, dst] of pairs) {
      lanes.push({
        id: `${from.mesh.mesh_id}${labelOf(src)}>${to.mesh.mesh_id}${labelOf(dst)}`, from, fromTopic: src.topic ?? '', fromGroup: src.group !== undefined ? targetOf(src.group) : null,
        to, to_: dst, toLabel: labelOf(dst), draining: null, again: false, inFlight: [], settling: null, pushed: new Map(),
      });
    }
  }
  const topicLanes = lanes.filter((l) => l.fromGroup === null);
  const groupLanes = lanes.filter((l) => l.fromGroup !== null);
  // Joins each source topic (REST, with a key it mints for itself), so its pushes reach the bridge
  // at once; a private topic must have been opened to it by a member. Polling covers the rest.
  const keys = new Map<string, MeshApi>();
  for (const lane of topicLanes) {
    const side = lane.from;
    let api = keys.get(side.mesh.mesh_id);
    if (!api) {
      // One key per mesh, kept in the home (0600) and used again after a restart.
      const kept = state.secret(side.mesh.mesh_id);
      const secret = kept ?? (await createApiKey(side.mesh.broker_url, parseIdentity(side.mesh.identity), side.mesh.mesh_id, { label: `bridge ${ctx.instance}`, capabilities: ['read', 'send'] })).secret;
      if (!kept) state.setSecret(side.mesh.mesh_id, secret);
      api = new MeshApi(side.mesh.broker_url, secret);
      keys.set(side.mesh.mesh_id, api);
    }
    await api.joinTopic(lane.fromTopic).catch((error: Error) => ctx.log(`${side.mesh.mesh_name}#${lane.fromTopic}: not joined (${error.message}); polling it`));
  }
  // A lane starts at the newest message of its source topic the first time: the bridge forwards
  // what is said from then on, not the topic's past.
  // A group lane needs no cursor: its source is the bridge's own queue at the broker, each message
  // confirmed once forwarded. The bridge joins the group to get its messages (`*` reaches everyone).
  for (const lane of groupLanes) {
    if (lane.fromGroup !== '*') await lane.from.client.joinGroup(lane.fromGroup!.slice(1));
  }
  for (const lane of topicLanes) {
    if (state.cursor(lane.id) !== undefined) continue;
    const page = await lane.from.client.topicHistory(lane.fromTopic, { limit: 1 });
    state.set(lane.id, page.messages.at(-1)?.id ?? '0');
  }
  // On disk before anything is forwarded: a restart must start from here, not from a newer "newest".
  state.flush();

  const pattern = cfg.filter.pattern !== undefined ? new RegExp(cfg.filter.pattern) : null;
  const passes = (sender: string, text: string): boolean =>
    (cfg.filter.senders === undefined || cfg.filter.senders.includes(sender)) && !cfg.filter.exclude_senders.includes(sender) && (pattern === null || pattern.test(text));

  /** Forwards one source message (or decides not to: hops, path, filter). */
  const forward = async (lane: Lane, m: { id: string; sender: string; sealed: boolean }, text: string): Promise<void> => {
    const { text: body, forwarded, legacyHops } = hopsOf(text);
    const hops = forwarded?.hops ?? legacyHops;
    const path = forwarded?.path ?? [lane.from.mesh.mesh_id];
    if (hops >= cfg.max_hops) {
      counters.skipped_hops += 1;
      return;
    }
    if (path.includes(lane.to.mesh.mesh_id)) {
      counters.skipped_path += 1;
      return;
    }
    const from = forwarded?.from ?? m.sender;
    if (!passes(from, body)) {
      counters.skipped_filter += 1;
      return;
    }
    const envelope = encodeBody(body, {
      forwarded: { hops: Math.max(hops, path.length - 1) + 1, path: [...path, lane.to.mesh.mesh_id], from, mesh: forwarded?.mesh ?? lane.from.mesh.mesh_name },
    });
    // Topic lanes keep their original id inputs (a topic's own name), so cursors and ids of earlier runs still hold.
    const id = forwardId(lane.from.mesh.mesh_id, lane.fromGroup ?? lane.fromTopic, m.id, lane.to.mesh.mesh_id, lane.to_.topic ?? lane.toLabel);
    if (lane.to_.group !== undefined) {
      // A group or broadcast in the destination: sealed under its mesh epoch by the client; the same id is the broker's duplicate.
      await lane.to.client.send(targetOf(lane.to_.group), envelope, { id, receipts: 'none' });
      counters.forwarded += 1;
      return;
    }
    const toTopic = lane.to_.topic;
    const mode = `${lane.to.mesh.mesh_id}#${toTopic}`;
    for (let attempt = 0; ; attempt++) {
      // The destination's mode (e2e or plaintext) is learnt from the broker: guessed as the source's, flipped once on E_TOPIC_MODE.
      const e2e = modes.get(mode) ?? m.sealed;
      try {
        if (e2e) {
          await topicSendEncrypted(lane.to.client, lane.to.ring, toTopic, envelope, { id, members: () => meshMembersWithKeys(lane.to.client) });
          saveRing(lane.to);
        } else {
          await lane.to.client.topicSend(toTopic, envelope, { id });
        }
        modes.set(mode, e2e);
        counters.forwarded += 1;
        return;
      } catch (error) {
        // The same id already stored with other bytes: an earlier run forwarded it (sealed with another nonce) before its cursor moved.
        if (error instanceof ProtocolError && error.code === 'E_CONFLICT') {
          counters.duplicates += 1;
          return;
        }
        if (error instanceof ProtocolError && error.code === 'E_TOPIC_MODE' && attempt === 0) {
          modes.set(mode, !e2e);
          continue;
        }
        throw error;
      }
    }
  };

  /** Each destination topic's mode, by `${mesh_id}#${topic}`, once known. */
  const modes = new Map<string, boolean>();

  /**
   * Moves the lane's cursor past each forward as it settles, in source order. A forward that failed
   * stops it there: what was issued after it is dropped (any that landed is a duplicate next time)
   * and the lane reads again from the cursor.
   */
  const settle = (lane: Lane): Promise<void> => {
    lane.settling ??= (async () => {
      try {
        while (lane.inFlight.length > 0) {
          const head = lane.inFlight[0]!;
          await head.done;
          if (lane.inFlight[0] === head) lane.inFlight.shift();
          state.set(lane.id, head.id);
        }
      } catch (error) {
        lane.inFlight.length = 0;
        throw error;
      } finally {
        lane.settling = null;
      }
    })();
    return lane.settling;
  };

  /**
   * Reads the lane's source topic after what it last issued, in id order, forwarding each with up
   * to `window` forwards in flight. Reading does not wait for the forwards issued before (only for
   * room in the window), so a message that arrives while others are in flight goes out at once. The
   * cursor moves past a message only once it and every message before it are dealt with, so a
   * crash forwards again (as duplicates) at most what was in flight.
   */
  const drainLane = async (lane: Lane): Promise<void> => {
    for (;;) {
      const after = lane.inFlight.at(-1)?.id ?? state.cursor(lane.id) ?? '0';
      const page = await lane.from.client.topicHistory(lane.fromTopic, { after, limit: 100 });
      if (page.messages.length === 0) {
        // Caught up: a push forward the read cannot reach any more (its message gone from the history) is forgotten.
        for (const id of lane.pushed.keys()) if (BigInt(id) <= BigInt(after)) lane.pushed.delete(id);
        return;
      }
      // Those forwarded from their pushes already are not opened again.
      const toOpen = page.messages.filter((m) => !lane.pushed.has(m.id) && m.sender.member_pubkey !== lane.from.key);
      const opened = new Map((await openTopicMessages(lane.from.client, lane.from.ring, toOpen)).map((o) => [o.id, o]));
      for (const m of page.messages) {
        if (stopping) return;
        let done: Promise<void> = Promise.resolve();
        const early = lane.pushed.get(m.id);
        if (early !== undefined) {
          lane.pushed.delete(m.id);
          done = early;
        } else if (m.sender.member_pubkey !== lane.from.key) {
          const o = opened.get(m.id)!;
          if (o.text === null) {
            // Not sealed to the bridge yet: wait for a key rather than skip it.
            counters.waiting_for_key += 1;
            return;
          }
          done = forward(lane, { id: m.id, sender: m.sender.display_name, sealed: m.body_version === 2 }, o.text);
          // Settled in order by settle(); a rejection is seen there, not as an unhandled one.
          done.catch(() => undefined);
        }
        lane.inFlight.push({ id: m.id, done });
        void settle(lane).catch((error: unknown) => {
          counters.errors += 1;
          ctx.log(`lane ${laneName(lane)}: ${(error as Error).message}`);
          // Read again from the cursor, after the failure.
          setTimeout(() => kick(lane), cfg.poll_ms);
        });
        // Room in the window: the head settling (settle() shifts it as soon as it is done).
        while (lane.inFlight.length >= cfg.window) {
          const head = lane.inFlight[0]!;
          await head.done.catch(() => undefined);
          if (lane.inFlight[0] === head) await new Promise((r) => setImmediate(r));
        }
        // A failure emptied the window: this page is stale, read again from the cursor.
        if (lane.inFlight.length === 0 && state.cursor(lane.id) !== m.id) return;
      }
      saveRing(lane.from);
      if (!page.has_more) return;
    }
  };

  let stopping = false;
  const kick = (lane: Lane): void => {
    if (stopping) return;
    if (lane.draining) {
      lane.again = true;
      return;
    }
    lane.draining = drainLane(lane)
      .catch((error: unknown) => {
        counters.errors += 1;
        ctx.log(`lane ${laneName(lane)}: ${(error as Error).message}`);
      })
      .finally(() => {
        lane.draining = null;
        if (lane.again) {
          lane.again = false;
          kick(lane);
        }
      });
  };
  /**
   * A topic push forwarded at once, without waiting for the lane's read of the history: the read
   * that the push also starts finds the forward under the message's id and settles it in order.
   * Skipped (left to the read) when the read has issued it already, when it cannot be opened yet
   * (the read syncs the keys) or when too many wait for the read.
   */
  const fromPush = (lane: Lane, m: TopicMessage): boolean => {
    if (stopping || m.sender.member_pubkey === lane.from.key || lane.pushed.has(m.id) || lane.pushed.size >= MAX_PUSHED) return false;
    const issued = lane.inFlight.at(-1)?.id ?? state.cursor(lane.id);
    if (issued === undefined || BigInt(m.id) <= BigInt(issued)) return false;
    const o = openTopicMessage(lane.from.ring, m);
    if (o.text === null) return false;
    const done = forward(lane, { id: m.id, sender: m.sender.display_name, sealed: m.body_version === 2 }, o.text);
    // Seen by settle() once the read takes it over.
    done.catch(() => undefined);
    lane.pushed.set(m.id, done);
    return true;
  };
  /**
   * The read after pushes that went out already only moves the cursor: it waits a little, so that
   * one read takes over many forwards (a read per push would cost the broker a history query each).
   */
  const lateKicks = new Map<Lane, NodeJS.Timeout>();
  const kickSoon = (lane: Lane): void => {
    if (lateKicks.has(lane)) return;
    lateKicks.set(lane, setTimeout(() => {
      lateKicks.delete(lane);
      kick(lane);
    }, SETTLE_READ_DELAY_MS));
  };
  for (const side of sides.values()) {
    side.client.on('topic', (m: TopicMessage) => {
      for (const lane of topicLanes) {
        if (lane.from !== side || lane.fromTopic !== m.topic) continue;
        if (fromPush(lane, m)) kickSoon(lane);
        else kick(lane);
      }
    });
    side.client.on('epoch', () => {
      for (const lane of topicLanes) if (lane.from === side) kick(lane);
    });
  }
  const poll = setInterval(() => topicLanes.forEach(kick), cfg.poll_ms);
  topicLanes.forEach(kick);
  groupsReady = true;
  for (const [side, m] of early.splice(0)) onMessage(side, m);
  ctx.log(`bridging ${lanes.map(laneName).join(', ')} (max ${cfg.max_hops} hops)`);

  return {
    counters: () => ({ ...counters }),
    health: () => ({ ok: true }),
    async stop(drainMs: number): Promise<boolean> {
      clearInterval(poll);
      for (const [lane, t] of lateKicks) {
        clearTimeout(t);
        kick(lane);
      }
      lateKicks.clear();
      const inFlight = Promise.all([
        ...lanes.map((l) => (l.draining ?? Promise.resolve()).then(() => l.settling?.catch(() => undefined))),
        ...lanes.flatMap((l) => [...l.pushed.values()].map((p) => p.catch(() => undefined))),
        ...groupWork,
      ]);
      const drained = await Promise.race([inFlight.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), drainMs))]);
      stopping = true;
      state.flush();
      rings.flush();
      await Promise.all([...sides.values()].map((s) => s.client.close()));
      return drained;
    },
  };
}
