import { boxDecrypt, secretboxDecrypt, type BoxKeyCache, type Identity } from '@claudemesh/crypto';
import type { ServerFrameMap } from '../protocol/v1/server-frames.js';
import type { InboundMessage } from './types.js';

const textDecoder = new TextDecoder('utf-8', { fatal: false });

/** Decrypts a push: a DM with the member key, a group or broadcast message with the mesh key. Throws if it does not open. */
export function openPush(frame: ServerFrameMap['push'], identity: Identity, meshKey: Uint8Array | undefined, cache: BoxKeyCache): InboundMessage {
  const sealed = { nonce: frame.nonce, ciphertext: frame.ciphertext };
  let body: Uint8Array;
  if (frame.kind === 'dm') body = boxDecrypt(sealed, frame.from.member_pubkey, identity, cache);
  else {
    if (!meshKey) throw new Error('no mesh key to open a group message');
    body = secretboxDecrypt(sealed, meshKey);
  }
  return inboundOf(frame, body);
}

/** The message a push carries once its body is open (by the member key, the mesh key or a mesh epoch). */
export function inboundOf(frame: ServerFrameMap['push'], body: Uint8Array): InboundMessage {
  return {
    messageId: frame.message_id,
    clientId: frame.client_id,
    kind: frame.kind,
    from: { memberPubkey: frame.from.member_pubkey, sessionPubkey: frame.from.session_pubkey, displayName: frame.from.display_name },
    to: frame.to,
    body,
    text: textDecoder.decode(body),
    sentAt: frame.sent_at,
    ...(frame.key_epoch !== undefined ? { keyEpoch: frame.key_epoch } : {}),
  };
}
