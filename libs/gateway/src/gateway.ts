import {
  EpochKeyring, MeshApi, MeshClient, ProtocolError, createApiKey, keyringAuthorities, loadMeshes, meshMembersWithKeys, openTopicMessages, topicSendEncrypted, wsUrlOf,
  type InboundMessage, type PeerInfo, type StoredMesh, type TopicMessage,
} from '@claudemesh/core';
import { decodeBody, encodeBody } from '@claudemesh/core/body';
import { cryptoReady, fromB64u, parseIdentity } from '@claudemesh/crypto';
import { KeyringLog, type PluginContext, type RunningPlugin } from '@claudemesh/plugin';
import { join } from 'node:path';
import { DM_PREFIX, LINK_COMMAND, UNLINK_COMMAND, chatLine, describeAttachment, inboundId } from './chat-text.js';
import type { GatewayCommonConfig } from './config.js';
import { LINK_TTL_DEFAULT_S, linkCodeHash, normalizeLinkCode, parseControl } from './link.js';
import { RateLimiter } from './rate-limiter.js';
import { splitText } from './split.js';
import { GatewayState, type LinkedUser, type MeshRef } from './state.js';
import { PermanentSendError, RetryAfter, type ChatInbound, type Surface } from './surface.js';

/** Longest chat message taken to the mesh; longer ones are refused with a note (every API here caps below it). */
export const MAX_INBOUND_CHARS = 16_000;
/** Longest wait a 429 may ask for before the gateway gives up on that send (it is retried after a restart). */
const MAX_RETRY_AFTER_MS = 15 * 60_000;
/** Wrong link codes a chat user may send within the window before the gateway stops answering them. */
const MAX_FAILED_LINKS = 5;
const FAILED_LINKS_WINDOW_MS = 10 * 60_000;
/** One refusal notice per chat user per this long, so an unlinked sender is not answered on every message. */
const NOTICE_EVERY_MS = 10 * 60_000;




/**
 * A chat gateway (docs/gateways.md): a peer of one mesh, with its own identity, that relays between
 * the mesh and a chat service through a Surface adapter. Linked chat users speak into the mapped
 * topic (or to one agent with `@name …`), attributed as `name@surface`; the topic's messages, and
 * DMs that answer something said in the chat, go to the chat. End-to-end encryption ends here: the
 * gateway opens what it relays to the chat service, which reads it.
 */
export async function startGateway(ctx: PluginContext<GatewayCommonConfig>, surface: Surface): Promise<RunningPlugin> {
  await cryptoReady();
  const cfg = ctx.config;
  const joined = loadMeshes(ctx.home);
  const matches = joined.filter((x) => x.mesh_id === cfg.mesh || x.mesh_name === cfg.mesh);
  if (matches.length !== 1) {
    throw new Error(`mesh "${cfg.mesh}" is ${matches.length === 0 ? 'not joined' : 'ambiguous'} in ${ctx.home} (joined: ${joined.map((x) => x.mesh_name).join(', ') || 'none'}); join it with CLAUDEMESH_HOME=${ctx.home} claudemesh join <invite link>`);
  }
  const mesh: StoredMesh = matches[0]!;
  const identity = parseIdentity(mesh.identity);
  const state = new GatewayState(ctx.home);
  const limiter = new RateLimiter(cfg.rate.per_minute, cfg.rate.burst);
  const counters = { to_mesh: 0, to_chat: 0, duplicates: 0, refused_unlinked: 0, refused_other: 0, rate_limited: 0, links: 0, errors: 0 };
  let lastError: string | null = null;
  const fail = (where: string, error: unknown): void => {
    counters.errors += 1;
    lastError = `${where}: ${(error as Error).message}`;
    ctx.log(lastError);
  };
  let stopping = false;

  // The mesh side: the gateway's own member, its keyring kept in its home.
  // An append-only log (gateway/keyring.jsonl); the whole-keyring file of earlier versions is read once and replaced.
  const rings = new KeyringLog({ file: () => join(ctx.home, 'gateway', 'keyring.jsonl'), legacyFile: () => join(ctx.home, 'gateway', 'keyring.json') });
  let ringReady!: (r: EpochKeyring) => void;
  const ringLoaded = new Promise<EpochKeyring>((r) => (ringReady = r));
  const early: InboundMessage[] = [];
  let onDm: ((m: InboundMessage) => void) | null = null;
  const client = new MeshClient({
    url: wsUrlOf(mesh.broker_url), meshId: mesh.mesh_id, identity, ...(mesh.mesh_key ? { meshKey: fromB64u(mesh.mesh_key) } : {}),
    peerType: 'connector', reconnect: true, clientName: `gateway-${surface.name}/${ctx.instance}`,
    // A DM is confirmed once relayed to the chat (or judged not to be): a crash before leaves it queued.
    autoDelivered: false,
    keyring: () => ringLoaded,
    onKeyringChange: () => saveRing(),
  });
  client.on('message', (m: InboundMessage) => (onDm ? onDm(m) : early.push(m)));
  await client.connect();
  /** The mesh's members, refreshed when a name or key is not found. */
  let peers: PeerInfo[] = await client.listPeers();
  const ring = new EpochKeyring({ me: identity, meshId: mesh.mesh_id, authorities: keyringAuthorities(peers) });
  // Nothing kept on a first start: synced from the broker as messages need keys.
  const kept = rings.load(mesh.mesh_id, ring);
  if (kept.skipped > 0) ctx.log(`${kept.skipped} line(s) of the kept keyring unreadable (a write cut short); their keys are fetched again`);
  ringReady(ring);
  function saveRing(): void {
    rings.save(mesh.mesh_id, ring);
  }

  const peerNamed = async (name: string): Promise<PeerInfo | undefined> => {
    const find = (): PeerInfo | undefined => peers.find((p) => p.display_name.toLowerCase() === name.toLowerCase() && p.rest_only !== true);
    if (find()) return find();
    peers = await client.listPeers();
    return find();
  };
  const peerByKey = async (key: string): Promise<PeerInfo | undefined> => {
    const find = (): PeerInfo | undefined => peers.find((p) => p.member_pubkey === key);
    if (find()) return find();
    peers = await client.listPeers();
    return find();
  };

  // Topics: the gateway joins each mapped topic with an API key of its own, so their pushes reach it.
  const topics = [...new Set(cfg.chats.map((c) => c.topic))];
  if (topics.length > 0) {
    const kept = state.secret(mesh.mesh_id);
    const secret = kept ?? (await createApiKey(mesh.broker_url, identity, mesh.mesh_id, { label: `gateway ${ctx.instance}`, capabilities: ['read', 'send'] })).secret;
    if (!kept) state.setSecret(mesh.mesh_id, secret);
    const api = new MeshApi(mesh.broker_url, secret);
    for (const topic of topics) {
      await api.joinTopic(topic).catch((error: Error) => ctx.log(`#${topic}: not joined (${error.message}); reading it every ${cfg.poll_ms} ms`));
      // The first start relays what is said from now on, not the topic's past.
      if (state.cursor(topic) === undefined) {
        const page = await client.topicHistory(topic, { limit: 1 });
        state.setCursor(topic, page.messages.at(-1)?.id ?? '0');
      }
    }
    state.flush();
  }
  /** Posts to each topic whose ack has not come back yet. */
  const posting = new Map<string, number>();
  /** Each topic's mode (sealed or not), once the broker said. */
  const sealedTopics = new Map<string, boolean>();

  const topicOf = (m: ChatInbound): string | undefined =>
    cfg.chats.find((c) => c.chat === m.chat)?.topic ?? (m.direct ? cfg.chats.find((c) => c.chat === 'direct')?.topic : undefined);
  const chatsOf = (topic: string): string[] => {
    const out = new Set<string>();
    for (const c of cfg.chats.filter((x) => x.topic === topic)) {
      if (c.chat !== 'direct') out.add(c.chat);
      else for (const l of state.links()) if (l.direct_chat !== undefined) out.add(l.direct_chat);
    }
    return [...out];
  };

  // Outbound: one queue, so what the chat shows keeps the mesh's order.
  let outbound: Promise<unknown> = Promise.resolve();
  const enqueue = <T>(work: () => Promise<T>): Promise<T> => {
    const run = outbound.then(work, work);
    outbound = run.catch(() => undefined);
    return run;
  };
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  /**
   * Sends text to a chat, split to the surface's limit; retried after a 429's delay and with backoff
   * after other failures, until it lands or the gateway stops (then it throws: the caller has not
   * marked it relayed, so it goes again after the restart). A permanent refusal gives up: null.
   */
  const sendToChat = async (chat: string, text: string, thread?: string): Promise<string | null> => {
    let first: string | null = null;
    for (const part of splitText(text, surface.maxText)) {
      for (let attempt = 0; ; attempt++) {
        if (stopping) throw new Error('stopping');
        try {
          const sent = await surface.send({ chat, text: part, ...(thread !== undefined ? { thread } : {}) });
          first ??= sent.messageId;
          break;
        } catch (error) {
          if (error instanceof PermanentSendError) {
            fail(`chat ${chat}`, error);
            return first;
          }
          if (error instanceof RetryAfter) {
            if (error.ms > MAX_RETRY_AFTER_MS) throw error;
            await sleep(error.ms);
            continue;
          }
          fail(`chat ${chat}`, error);
          await sleep(Math.min(60_000, 500 * 2 ** attempt));
        }
      }
    }
    counters.to_chat += 1;
    return first;
  };
  /** A notice to a chat from the gateway itself (not relayed from the mesh): best effort. */
  const notice = async (m: ChatInbound, text: string): Promise<void> => {
    await enqueue(() => sendToChat(m.chat, text, m.messageId)).catch((error: unknown) => fail('notice', error));
  };
  const noticed = new Map<string, number>();
  const noticeOnce = async (m: ChatInbound, text: string): Promise<void> => {
    const key = `${m.chat}|${m.user}`;
    if ((noticed.get(key) ?? 0) > Date.now() - NOTICE_EVERY_MS) return;
    noticed.set(key, Date.now());
    await notice(m, text);
  };

  /** Posts to a topic, as a reply when `replyTo` is one of its messages (else the envelope alone carries it). */
  const postToTopic = async (topic: string, envelope: string, id: string, replyTo: string | undefined): Promise<string | null> => {
    let thread = replyTo;
    for (let attempt = 0; attempt < 4; attempt++) {
      const sealed = sealedTopics.get(topic) ?? true;
      const o = { id, ...(thread !== undefined ? { replyTo: thread } : {}) };
      try {
        const posted = sealed
          ? await topicSendEncrypted(client, ring, topic, envelope, { ...o, members: () => meshMembersWithKeys(client) })
          : await client.topicSend(topic, envelope, o);
        sealedTopics.set(topic, sealed);
        return posted.id;
      } catch (error) {
        // Stored already under this id by an earlier delivery (sealed with another nonce).
        if (error instanceof ProtocolError && error.code === 'E_CONFLICT') return null;
        if (error instanceof ProtocolError && error.code === 'E_TOPIC_MODE') {
          sealedTopics.set(topic, !sealed);
          continue;
        }
        // The chat answered a message that is not of this topic (a DM's, or one gone): a plain post.
        if (error instanceof ProtocolError && error.code === 'E_SCHEMA' && thread !== undefined) {
          thread = undefined;
          continue;
        }
        throw error;
      }
    }
    throw new Error(`#${topic}: could not post`);
  };

  const failedLinks = new Map<string, { n: number; since: number }>();
  /** A `link CODE` typed in the chat. */
  const linkUser = async (m: ChatInbound, typed: string): Promise<void> => {
    // Guessing is bounded per chat user: a few wrong codes, then silence for a while.
    const tries = failedLinks.get(m.user);
    if (tries && tries.n >= MAX_FAILED_LINKS && Date.now() - tries.since < FAILED_LINKS_WINDOW_MS) {
      counters.refused_other += 1;
      return;
    }
    const code = normalizeLinkCode(typed);
    const pending = code === null ? undefined : state.takePending(linkCodeHash(code));
    if (!pending) {
      counters.refused_other += 1;
      const fresh = !tries || Date.now() - tries.since >= FAILED_LINKS_WINDOW_MS;
      failedLinks.set(m.user, fresh ? { n: 1, since: Date.now() } : { n: tries.n + 1, since: tries.since });
      await notice(m, 'That link code is not valid (wrong, used or expired). Ask a mesh member for a new one: claudemesh gateway link.');
      return;
    }
    failedLinks.delete(m.user);
    const linked: LinkedUser = {
      user: m.user, name: pending.name, member: pending.member, surface_name: m.userName, linked_at: Date.now(), by: pending.by,
      ...(m.direct ? { direct_chat: m.chat } : {}),
    };
    state.setLink(linked);
    counters.links += 1;
    ctx.log(`linked ${surface.name} user ${m.user} as ${linked.name} (code issued by ${pending.by})`);
    await notice(m, `Linked: you write to the mesh as ${linked.name}@${surface.name}. Write here to talk in ${topicOf(m) ? `#${topicOf(m)}` : 'a linked chat'}, or start with @name to write to one member. Send unlink to stop.`);
  };

  /** One chat message, from the adapter: resolved once it is on the mesh or refused for good. */
  const deliver = async (m: ChatInbound): Promise<void> => {
    if (stopping) throw new Error('the gateway is stopping');
    lastEvent = new Date().toISOString();
    if (state.seen(m.dedupeId)) {
      counters.duplicates += 1;
      return;
    }
    // How an operator learns a chat's id: the log names it, once a run (never the text).
    if (topicOf(m) === undefined && !m.direct && !unmapped.has(m.chat)) {
      unmapped.add(m.chat);
      ctx.log(`chat ${m.chat} is not mapped to a topic; to relay it, add { chat: "${m.chat}", topic: <name> } to chats`);
    }
    const text = m.text.trim();
    const linkCmd = LINK_COMMAND.exec(text);
    if (linkCmd) {
      await linkUser(m, linkCmd[1]!);
      state.markSeen(m.dedupeId);
      return;
    }
    const who = state.link(m.user);
    if (!who) {
      counters.refused_unlinked += 1;
      await noticeOnce(m, 'This chat is connected to a claudemesh mesh, and only linked people are heard. A mesh member can give you a code (claudemesh gateway link); send it here as: link CODE');
      state.markSeen(m.dedupeId);
      return;
    }
    if (UNLINK_COMMAND.test(text)) {
      state.unlink(m.user);
      await notice(m, 'Unlinked: nothing you write here reaches the mesh any more.');
      state.markSeen(m.dedupeId);
      return;
    }
    const refuse = async (why: string): Promise<void> => {
      counters.refused_other += 1;
      await notice(m, `Not sent: ${why}`);
      state.markSeen(m.dedupeId);
    };
    if (text.length > MAX_INBOUND_CHARS) return refuse(`messages of at most ${MAX_INBOUND_CHARS} characters reach the mesh.`);
    const body = [text, ...m.attachments.map(describeAttachment)].filter((l) => l.length > 0).join('\n');
    if (body.length === 0) {
      state.markSeen(m.dedupeId);
      return;
    }
    const id = inboundId(ctx.instance, surface.name, m.dedupeId);
    const dm = DM_PREFIX.exec(text);
    const answers = m.thread !== undefined ? state.meshRefOf(m.chat, m.thread) : undefined;
    const attribution = { hops: 1, path: [mesh.mesh_id], from: who.name, mesh: surface.name };
    const topic = topicOf(m);
    if (topic === undefined && !m.direct) return refuse('this chat is not linked to a topic of the mesh.');
    if (!limiter.take(m.user)) {
      counters.rate_limited += 1;
      await noticeOnce(m, `Not sent: at most ${cfg.rate.per_minute} messages a minute from one person. Send it again in a moment.`);
      state.markSeen(m.dedupeId);
      return;
    }
    if (dm) {
      const peer = await peerNamed(dm[1]!);
      if (!peer) return refuse(`nobody named ${dm[1]} in the mesh.`);
      const dmBody = [dm[2]!, ...m.attachments.map(describeAttachment)].join('\n');
      const replyTo = answers?.startsWith('d') ? answers.slice(1) : undefined;
      const ack = await client.send(peer.member_pubkey, encodeBody(dmBody, { forwarded: attribution, ...(replyTo ? { replyTo } : {}) }), { id });
      state.pair(m.chat, m.messageId, `d${ack.message_id}`);
    } else {
      if (topic === undefined) return refuse('start with @name to write to one member of the mesh (this chat is not linked to a topic).');
      posting.set(topic, (posting.get(topic) ?? 0) + 1);
      try {
        const replyTo = answers?.startsWith('t') ? answers.slice(1) : undefined;
        const posted = await postToTopic(topic, encodeBody(body, { forwarded: attribution, ...(replyTo ? { replyTo } : {}) }), id, replyTo);
        if (posted !== null) state.pair(m.chat, m.messageId, `t${posted}`);
      } finally {
        posting.set(topic, posting.get(topic)! - 1);
        kick(topic);
      }
    }
    counters.to_mesh += 1;
    state.markSeen(m.dedupeId);
  };
  let lastEvent: string | null = null;
  const unmapped = new Set<string>();

  /** A mesh message to the chats it belongs in, each once (kept across restarts). */
  const relay = async (ref: MeshRef, who: string, text: string, replyTo: MeshRef | null, chats: string[]): Promise<void> => {
    const answered = replyTo !== null ? state.surfaceOf(replyTo) : [];
    for (const chat of chats) {
      const key = `${ref}|${chat}`;
      if (state.relayed(key)) continue;
      const thread = answered.find((a) => a.chat === chat)?.messageId;
      const sent = await enqueue(() => sendToChat(chat, chatLine(who, text), thread));
      if (sent !== null) state.pair(chat, sent, ref);
      state.markRelayed(key);
    }
  };

  /** Reads a topic after its cursor and relays each message to its chats; the cursor moves after each. */
  const draining = new Map<string, Promise<void>>();
  const again = new Set<string>();
  const drainTopic = async (topic: string): Promise<void> => {
    for (;;) {
      const after = state.cursor(topic) ?? '0';
      const page = await client.topicHistory(topic, { after, limit: 50 });
      if (page.messages.length === 0) return;
      const opened = await openTopicMessages(client, ring, page.messages);
      for (const [k, msg] of page.messages.entries()) {
        if (stopping) return;
        const o = opened[k]!;
        // What the gateway posted itself came from one of its chats: the others see it, that one does not again.
        const own = msg.sender.member_pubkey === identity.publicKey;
        // Its own post whose ack has not come back yet: which chat it came from is not known; read on once it is.
        if (own && (posting.get(topic) ?? 0) > 0 && state.surfaceOf(`t${msg.id}`).length === 0) return;
        const chats = own ? chatsOf(topic).filter((c) => !state.surfaceOf(`t${msg.id}`).some((s) => s.chat === c)) : chatsOf(topic);
        if (chats.length > 0) {
          // Not sealed to the gateway yet: wait for the key (an epoch push kicks the topic again).
          if (o.text === null) return;
          const b = decodeBody(o.text);
          const who = b.forwarded ? `${b.forwarded.from}@${b.forwarded.mesh}` : msg.sender.display_name;
          // A topic reply names a message of the topic (the broker's reply_to); a reply inside the envelope may too.
          const replyTo = msg.reply_to ?? b.replyTo;
          await relay(`t${msg.id}`, who, b.text, replyTo ? `t${replyTo}` : null, chats);
        }
        state.setCursor(topic, msg.id);
      }
      saveRing();
      if (!page.has_more) return;
    }
  };
  const kick = (topic: string): void => {
    if (stopping) return;
    if (draining.has(topic)) {
      again.add(topic);
      return;
    }
    draining.set(topic, drainTopic(topic)
      .catch((error: unknown) => fail(`#${topic}`, error))
      .finally(() => {
        draining.delete(topic);
        if (again.delete(topic)) kick(topic);
      }));
  };
  client.on('topic', (m: TopicMessage) => {
    if (topics.includes(m.topic)) kick(m.topic);
  });
  client.on('epoch', () => topics.forEach(kick));
  const poll = setInterval(() => topics.forEach(kick), cfg.poll_ms);

  /** A DM to the gateway: a member's control message, or an answer to something said in a chat. */
  const dmWork = new Set<Promise<void>>();
  const handleDm = async (m: InboundMessage): Promise<void> => {
    if (m.kind !== 'dm') return;
    let control;
    try {
      control = parseControl(m.text);
    } catch (error) {
      await client.send(m.from.memberPubkey, `gateway ${ctx.instance}: ${(error as Error).message}`).catch(() => undefined);
      return;
    }
    const sender = await peerByKey(m.from.memberPubkey);
    if (control) {
      const admin = sender?.role === 'owner' || sender?.role === 'admin';
      if (control.op === 'link') {
        if (control.name !== undefined && control.name !== m.from.displayName && !admin) {
          await client.send(m.from.memberPubkey, `gateway ${ctx.instance}: only an owner or admin links a person under another name; without --name the code links you.`);
          return;
        }
        const name = control.name ?? m.from.displayName;
        state.addPending({ code_sha256: control.code_sha256, name, member: control.name === undefined || control.name === m.from.displayName, expires_at: Date.now() + (control.ttl_s ?? LINK_TTL_DEFAULT_S) * 1000, by: m.from.displayName });
        ctx.log(`link code issued by ${m.from.displayName} for ${name}`);
        return;
      }
      const target = state.links().find((l) => l.user === control.user || l.name === control.user);
      if (!target || (!admin && target.name !== m.from.displayName)) {
        await client.send(m.from.memberPubkey, `gateway ${ctx.instance}: no link for ${control.user} that you may remove.`);
        return;
      }
      state.unlink(target.user);
      ctx.log(`unlinked ${target.name} (${surface.name} user ${target.user}) at the request of ${m.from.displayName}`);
      return;
    }
    const b = decodeBody(m.text);
    // An answer names the DM the gateway sent it (d…); an agent may also answer a topic message in a DM (t…).
    const replyTo: MeshRef | null = b.replyTo === null ? null : state.surfaceOf(`d${b.replyTo}`).length > 0 ? `d${b.replyTo}` : `t${b.replyTo}`;
    const answered = replyTo !== null ? [...new Set(state.surfaceOf(replyTo).map((s) => s.chat))] : [];
    if (answered.length === 0) {
      counters.refused_other += 1;
      await client.send(m.from.memberPubkey, `gateway ${ctx.instance}: not relayed — reply to a message that came from the chat (it has the reply_to), or post in a linked topic.`).catch(() => undefined);
      return;
    }
    await relay(`d${m.messageId}`, b.forwarded ? `${b.forwarded.from}@${b.forwarded.mesh}` : m.from.displayName, b.text, replyTo, answered);
  };
  onDm = (m: InboundMessage): void => {
    const work = (async () => {
      for (let attempt = 0; !stopping; attempt++) {
        try {
          await handleDm(m);
          client.confirmDelivered([m.messageId]);
          return;
        } catch (error) {
          fail('dm', error);
          await sleep(Math.min(30_000, 500 * 2 ** attempt));
        }
      }
    })();
    dmWork.add(work);
    void work.finally(() => dmWork.delete(work));
  };
  for (const m of early.splice(0)) onDm(m);

  await surface.start(deliver);
  topics.forEach(kick);
  ctx.log(`gateway ${surface.name}: ${cfg.chats.map((c) => `${c.chat} ↔ #${c.topic}`).join(', ') || 'no chats mapped (@name DMs only)'}; ${state.links().length} linked`);

  return {
    health: () => ({ ok: true, detail: surface.status().connected ? 'connected' : 'not connected' }),
    counters: () => {
      const s = surface.status();
      return {
        connected: String(s.connected), mode: s.mode, chats: cfg.chats.length, linked_users: state.links().length, pending_codes: state.pendingCount(),
        last_event_at: s.last_event_at ?? lastEvent ?? '-', last_error: s.last_error ?? lastError ?? '-', ...counters,
      };
    },
    async stop(drainMs: number): Promise<boolean> {
      clearInterval(poll);
      await surface.stop();
      const busy = Promise.all([...draining.values(), ...dmWork, outbound]);
      const drained = await Promise.race([busy.then(() => true), sleep(drainMs).then(() => false)]);
      stopping = true;
      state.flush();
      rings.flush();
      await client.close();
      return drained;
    },
  };
}
