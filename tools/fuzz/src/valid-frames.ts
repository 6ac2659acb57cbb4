/**
 * Schema-valid client frames of every type (docs/protocol.md §5.2). Where a valid frame should also
 * be accepted by the broker, values come from the live mesh through `FrameContext`: send targets
 * that resolve, `set_grants` peers that are members, state owners that exist.
 *
 * Pure: no I/O, no clock, so a seed always yields the same frames for the same context.
 */
import fc from 'fast-check';
import { CLIENT_FRAME_SCHEMAS, type ClientFrameType } from '@claudemesh/core';
import { arb, b64uOf, memo, memoBy } from './field-values.js';

export const CLIENT_FRAME_TYPES = Object.keys(CLIENT_FRAME_SCHEMAS) as ClientFrameType[];

/**
 * Live-mesh values the generators may use. Unknown targets always start with `zz`, which no member
 * name does; random pubkeys are never members.
 *
 * Grants: a frame's `set_grants` only ever names `grantees` (or `self`, or a key that is no member),
 * so no member the fuzzer drives is ever granted or refused anything by another. That keeps the
 * control peers' paths at the defaults and makes the answers to cross-member state frames exact.
 */
export interface FrameContext {
  meshId: string;
  /** Send targets that resolve for the whole run: display names, member pubkeys, session pubkeys. */
  knownTargets: string[];
  /** `@group` targets that exist for the whole run. */
  knownGroups: string[];
  /** Every member pubkey of the mesh: valid state owners. */
  members: string[];
  /** Sacrificial members that never connect: the only peers `set_grants` names. */
  grantees: string[];
  /** Session pubkeys: valid pubkeys that are no member's (`E_UNKNOWN_TARGET` as a peer or owner). */
  sessionKeys: string[];
  /** The sending member's own pubkey, when the context is one authenticated lane's. */
  self?: string;
  /**
   * End-to-end encrypted topics of the mesh beside #general (plaintext), if any. No epoch of them is
   * ever stored (no generated manifest carries a valid signature), so a sealed post to one is
   * always E_EPOCH_STALE, a text post E_TOPIC_MODE.
   */
  e2eTopics?: string[];
}

const targetArb = memoBy((ctx: FrameContext): fc.Arbitrary<string> => {
  const options: Array<fc.WeightedArbitrary<string>> = [
    { weight: 2, arbitrary: fc.constant('*') },
    { weight: 2, arbitrary: arb.missingName() },
    { weight: 1, arbitrary: arb.missingGroup().map((g) => `@${g}`) },
    { weight: 1, arbitrary: arb.pubkey() },
  ];
  if (ctx.knownTargets.length > 0) options.push({ weight: 6, arbitrary: fc.constantFrom(...ctx.knownTargets) });
  if (ctx.knownGroups.length > 0) options.push({ weight: 2, arbitrary: fc.constantFrom(...ctx.knownGroups) });
  return fc.oneof(...options);
});

/** Targets a version-2 send may name: `*`, the context's groups, or a group nobody joined (E_UNKNOWN_TARGET). */
const groupTargetArb = memoBy((ctx: FrameContext): fc.Arbitrary<string> => {
  const options: Array<fc.WeightedArbitrary<string>> = [
    { weight: 3, arbitrary: fc.constant('*') },
    { weight: 1, arbitrary: arb.missingGroup().map((g) => `@${g}`) },
  ];
  if (ctx.knownGroups.length > 0) options.push({ weight: 3, arbitrary: fc.constantFrom(...ctx.knownGroups) });
  return fc.oneof(...options);
});

/** `set_grants.peer`: mostly a grantee (accepted), sometimes oneself (E_FORBIDDEN) or no member (E_UNKNOWN_TARGET). */
const grantPeerArb = memoBy((ctx: FrameContext): fc.Arbitrary<string> => {
  const options: Array<fc.WeightedArbitrary<string>> = [{ weight: 1, arbitrary: arb.pubkey() }];
  if (ctx.grantees.length > 0) options.push({ weight: 8, arbitrary: fc.constantFrom(...ctx.grantees) });
  if (ctx.self !== undefined) options.push({ weight: 1, arbitrary: fc.constant(ctx.self) });
  if (ctx.sessionKeys.length > 0) options.push({ weight: 1, arbitrary: fc.constantFrom(...ctx.sessionKeys) });
  return fc.oneof(...options);
});

/** `state_set.owner` / `state_get.owner`: absent or oneself most often, then other members, then no member. */
const ownerArb = memoBy((ctx: FrameContext): fc.Arbitrary<string | undefined> => {
  const options: Array<fc.WeightedArbitrary<string | undefined>> = [
    { weight: 6, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: arb.pubkey() },
  ];
  if (ctx.self !== undefined) options.push({ weight: 3, arbitrary: fc.constant(ctx.self) });
  if (ctx.members.length > 0) options.push({ weight: 3, arbitrary: fc.constantFrom(...ctx.members) });
  if (ctx.sessionKeys.length > 0) options.push({ weight: 1, arbitrary: fc.constantFrom(...ctx.sessionKeys) });
  return fc.oneof(...options);
});

/**
 * Every mesh has #general (plaintext), some also the e2e topics of the context; the fuzzer creates no
 * other topic: `zz…` names are E_NOT_FOUND.
 */
const topicArb = memoBy((ctx: FrameContext): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant('general') },
    { weight: 1, arbitrary: arb.missingTopic() },
    ...(ctx.e2eTopics?.length ? [{ weight: 4, arbitrary: fc.constantFrom(...ctx.e2eTopics) }] : []),
  ),
);

/** Epoch scopes: those of field-values (mesh, #general, missing topics) and the context's e2e topics. */
const epochScopeArb = memoBy((ctx: FrameContext): fc.Arbitrary<string> =>
  ctx.e2eTopics?.length ? fc.oneof({ weight: 4, arbitrary: arb.epochScope() }, { weight: 2, arbitrary: fc.constantFrom(...ctx.e2eTopics.map((t) => `topic:${t}`)) }) : arb.epochScope(),
);

/** Mentions of a sealed post: members of the mesh or random keys (the broker records members only). */
const mentionsArb = memoBy((ctx: FrameContext): fc.Arbitrary<string[]> =>
  ctx.members.length > 0 ? fc.uniqueArray(fc.oneof(arb.pubkey(), fc.constantFrom(...ctx.members)), { maxLength: 3 }) : arb.mentions(),
);

const optionalReqId = memo((): fc.Arbitrary<string | undefined> => fc.option(arb.reqId(), { nil: undefined, freq: 3 }));

/** A pool key at a small version, or a key nobody wrote at version 1 (a write the broker accepts). */
const stateSlot = memo((): fc.Arbitrary<{ key: string; version: number }> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.record({ key: arb.stateKey(), version: arb.version() }) },
    { weight: 1, arbitrary: fc.record({ key: arb.freshStateKey(), version: fc.constant(1) }) },
  ),
);

/**
 * A manifest of the right form whose signature is random: the broker refuses it (wrong mesh,
 * another creator, strangers listed, a missing topic, or the signature), and stores nothing.
 */
const signedManifestArb = memoBy((ctx: FrameContext): fc.Arbitrary<FrameObject> =>
  fc
    .record({
      mesh_id: fc.oneof(fc.constant(ctx.meshId), arb.uuid()),
      scope: epochScopeArb(ctx),
      epoch: arb.epochNumber(),
      hash: b64uOf(32, 32),
      members: fc.uniqueArray(fc.oneof(arb.pubkey(), ...(ctx.self !== undefined ? [fc.constant(ctx.self)] : [])), { minLength: 1, maxLength: 4 }),
      reason: fc.constantFrom('create', 'manual', 'member_left'),
      created_at: arb.epoch(),
      key_commitment: b64uOf(32, 32),
      sig: arb.sig(),
    })
    .map(({ hash, members, sig, ...m }) => ({
      manifest: { v: 1, ...m, prev_epoch_hash: m.epoch === 1 ? null : hash, members: [...members].sort(), created_by: members[0]! },
      sig,
    })),
);

export type FrameObject = Record<string, unknown>;

const validFrames = memoBy((ctx: FrameContext) => memoBy((type: ClientFrameType) => buildValidFrame(ctx, type)));

export function validFrame(ctx: FrameContext, type: ClientFrameType): fc.Arbitrary<FrameObject> {
  return validFrames(ctx)(type);
}

function buildValidFrame(ctx: FrameContext, type: ClientFrameType): fc.Arbitrary<FrameObject> {
  switch (type) {
    case 'hello':
      return fc.record(
        {
          type: fc.constant('hello'),
          v: fc.constant(1),
          mesh_id: fc.oneof(fc.constant(ctx.meshId), arb.uuid()),
          member_pubkey: arb.pubkey(),
          session_pubkey: arb.pubkey(),
          session_expires_at: arb.epoch(),
          session_sig: arb.sig(),
          nonce: arb.challengeNonce(),
          ts: arb.epoch(),
          sig: arb.sig(),
          peer_type: fc.constantFrom('ai', 'human', 'connector'),
          client: arb.client(),
        },
        { requiredKeys: ['type', 'v', 'mesh_id', 'member_pubkey', 'session_pubkey', 'session_expires_at', 'session_sig', 'nonce', 'ts', 'sig'] },
      );
    case 'send':
      return fc.oneof(
        // Version 1: any target, body_version absent or 1.
        {
          weight: 3,
          arbitrary: fc.record(
            { type: fc.constant('send'), id: arb.clientId(), to: targetArb(ctx), nonce: arb.boxNonce(), ciphertext: arb.ciphertext(), receipts: arb.receipts(), body_version: fc.constant(1) },
            { requiredKeys: ['type', 'id', 'to', 'nonce', 'ciphertext'] },
          ),
        },
        // Version 2: @group or * under a mesh key epoch, with a random signature (the broker checks it
        // only after the mesh's current epoch, which these frames never get past: no mesh epoch exists).
        {
          weight: 1,
          arbitrary: fc.record(
            {
              type: fc.constant('send'),
              id: arb.clientId(),
              to: groupTargetArb(ctx),
              nonce: arb.boxNonce(),
              ciphertext: arb.ciphertext(),
              receipts: arb.receipts(),
              body_version: fc.constant(2),
              key_epoch: arb.epochNumber(),
              sig: arb.sig(),
            },
            { requiredKeys: ['type', 'id', 'to', 'nonce', 'ciphertext', 'body_version', 'key_epoch', 'sig'] },
          ),
        },
      );
    case 'delivered':
    case 'read':
      return fc.record({ type: fc.constant(type), message_ids: fc.array(arb.messageId(), { minLength: 1, maxLength: 40 }) });
    case 'list_peers':
    case 'list_grants':
      return fc.record({ type: fc.constant(type), req_id: arb.reqId() });
    case 'set_summary':
      return fc.record({ type: fc.constant('set_summary'), req_id: optionalReqId(), summary: arb.summary() });
    case 'set_tags':
      return fc.record({ type: fc.constant('set_tags'), req_id: optionalReqId(), tags: arb.tags() });
    case 'set_status':
      return fc.record({ type: fc.constant('set_status'), req_id: optionalReqId(), status: fc.constantFrom('idle', 'working', 'dnd') });
    case 'join_group':
    case 'leave_group':
      return fc.record({ type: fc.constant(type), req_id: optionalReqId(), group: arb.joinableGroup() });
    case 'message_status':
      return fc.oneof(
        fc.record({ type: fc.constant('message_status'), req_id: arb.reqId(), message_ids: fc.array(arb.messageId(), { minLength: 1, maxLength: 20 }) }),
        fc.record({ type: fc.constant('message_status'), req_id: arb.reqId(), client_ids: fc.array(arb.clientId(), { minLength: 1, maxLength: 20 }) }),
      );
    case 'set_grants':
      return fc.record({ type: fc.constant('set_grants'), req_id: arb.reqId(), peer: grantPeerArb(ctx), capabilities: arb.capabilities(), blocked: arb.blocked() });
    case 'state_set':
      return fc
        .record({ req_id: arb.reqId(), owner: ownerArb(ctx), slot: stateSlot(), nonce: arb.boxNonce(), ciphertext: arb.stateCiphertext() })
        .map(({ req_id, owner, slot, nonce, ciphertext }) => ({ type: 'state_set', req_id, owner, key: slot.key, version: slot.version, nonce, ciphertext }));
    case 'topic_send':
      return fc.oneof(
        // Version 1: text, body_version absent or 1.
        fc.record(
          { type: fc.constant('topic_send'), id: arb.clientId(), topic: topicArb(ctx), text: arb.topicText(), reply_to: arb.messageId(), body_version: fc.constant(1) },
          { requiredKeys: ['type', 'id', 'topic', 'text'] },
        ),
        // Version 2: sealed under a key epoch, with a random signature (the broker checks it only
        // after the topic's mode and current epoch, which these frames never get past).
        fc.record(
          {
            type: fc.constant('topic_send'),
            id: arb.clientId(),
            topic: topicArb(ctx),
            body_version: fc.constant(2),
            key_epoch: arb.epochNumber(),
            nonce: arb.boxNonce(),
            ciphertext: arb.topicCiphertext(),
            sig: arb.sig(),
            mentions: mentionsArb(ctx),
            reply_to: arb.messageId(),
          },
          { requiredKeys: ['type', 'id', 'topic', 'body_version', 'key_epoch', 'nonce', 'ciphertext', 'sig'] },
        ),
      );
    case 'topic_history':
      return fc
        .record({ req_id: arb.reqId(), topic: topicArb(ctx), edge: fc.constantFrom('before', 'after', 'none'), id: arb.messageId(), limit: fc.option(arb.historyLimit(), { nil: undefined }) })
        .map(({ req_id, topic, edge, id, limit }) => ({ type: 'topic_history', req_id, topic, ...(edge === 'none' ? {} : { [edge]: id }), limit }));
    case 'epoch_publish':
      return fc.record({ type: fc.constant('epoch_publish'), req_id: arb.reqId(), manifest: signedManifestArb(ctx), seals: arb.epochSeals() });
    case 'epoch_get':
      return fc.record({ type: fc.constant('epoch_get'), req_id: arb.reqId(), scope: epochScopeArb(ctx), after_epoch: fc.option(arb.afterEpoch(), { nil: undefined }) });
    case 'epoch_seal':
      return fc.record({ type: fc.constant('epoch_seal'), req_id: arb.reqId(), scope: epochScopeArb(ctx), epoch: arb.epochNumber(), seals: arb.epochSeals() });
    case 'state_get':
      return fc.record({
        type: fc.constant('state_get'),
        req_id: arb.reqId(),
        owner: ownerArb(ctx),
        key: fc.option(arb.stateKey(), { nil: undefined, freq: 2 }),
      });
  }
}

const frameTypeArb = fc.constantFrom(...CLIENT_FRAME_TYPES);

export const anyValidFrame = memoBy((ctx: FrameContext): fc.Arbitrary<{ type: ClientFrameType; frame: FrameObject }> =>
  frameTypeArb.chain((type) => validFrame(ctx, type).map((frame) => ({ type, frame: stripUndefined(frame) }))),
);

export function stripUndefined(frame: FrameObject): FrameObject {
  return Object.fromEntries(Object.entries(frame).filter(([, v]) => v !== undefined));
}
