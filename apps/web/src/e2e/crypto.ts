/**
 * End-to-end encryption in the browser (docs/web.md "End-to-end encrypted topics"): the browser's
 * own keypair, claimed for a human enrolled with an API key, and the same epoch keyring, sealing
 * and opening code the CLI runs (libs/crypto, libs/core), over REST. Loaded on demand, as a chunk
 * of its own: libsodium is most of its weight and a plaintext-only session never fetches it.
 */
import { cryptoReady, generateIdentity, identityClaimString, parseIdentity, serializeIdentity, sign, type Identity } from '@claudemesh/crypto';
import { MeshApi } from '../../../../libs/core/src/client/api-client.js';
import { keyringAuthorities } from '../../../../libs/core/src/client/epoch-authorities.js';
import { EpochKeyError, EpochKeyring } from '../../../../libs/core/src/client/epoch-keyring.js';
import { meshMembersWithKeys, openTopicMessages, topicSendEncrypted } from '../../../../libs/core/src/client/topic-crypto.js';
import type { MemberPresence, TopicMessage } from '../types.js';
import type { KeyRecord } from './keys.js';

export interface Opened {
  id: string;
  text: string | null;
  reason?: string;
}

/**
 * Makes this browser's keypair and claims it for the member (POST /me/identity, protocol §6.5): the
 * key replaces the placeholder the broker enrolled the human with, once. Returns what to keep.
 */
export async function claimKey(apiKey: string, meshId: string, placeholder: string): Promise<KeyRecord> {
  await cryptoReady();
  const id = generateIdentity();
  const sig = sign(identityClaimString({ meshId, placeholder, memberPubkey: id.publicKey }), id.secretKey);
  const res = await fetch('/api/v1/me/identity', {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ member_pubkey: id.publicKey, sig }),
  });
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    throw new Error(body?.error?.message ?? `claiming a key failed (${res.status})`);
  }
  return { mesh_id: meshId, member_pubkey: id.publicKey, identity: JSON.stringify(serializeIdentity(id)) };
}

/** One mesh's keyring in this tab: epochs synced from the broker on demand, keys held in memory. */
export class E2eSession {
  private readonly api: MeshApi;
  private readonly ring: EpochKeyring;
  private members: readonly MemberPresence[] = [];
  private membersAt = 0;

  static async open(apiKey: string, record: KeyRecord): Promise<E2eSession> {
    await cryptoReady();
    return new E2eSession(apiKey, record.mesh_id, parseIdentity(JSON.parse(record.identity)));
  }

  private constructor(apiKey: string, meshId: string, me: Identity) {
    this.api = new MeshApi(location.origin, apiKey);
    // Who may create an epoch is read from the member list at each check (keyringAuthorities).
    this.ring = new EpochKeyring({ me, meshId, authorities: (scope, epoch) => keyringAuthorities(this.members as never)(scope, epoch) });
  }

  /** The member list the authorities come from, at most 10 s old. */
  private async fresh(): Promise<void> {
    if (Date.now() - this.membersAt < 10_000) return;
    this.members = await this.api.members();
    this.membersAt = Date.now();
  }

  /** Opens what it can; a message it cannot open has `text: null` and a reason (never throws for one). */
  async open(messages: readonly TopicMessage[]): Promise<Opened[]> {
    await this.fresh();
    const opened = await openTopicMessages(this.api, this.ring, messages as never);
    return opened.map((m) => ({ id: m.id, text: m.text, ...(m.reason ? { reason: m.reason } : {}) }));
  }

  /**
   * Seals and posts under the topic's current epoch (creating epoch 1, or rotating when the broker
   * says the member list changed), with `clientId` kept across retries so a retry never posts twice.
   */
  async send(topic: string, text: string, o: { clientId: string; replyTo?: string | null; mentions: readonly string[]; topicMembers?: () => Promise<string[]> }): Promise<TopicMessage> {
    await this.fresh();
    const restOnly = new Set(this.members.filter((m) => m.rest_only).map((m) => m.member_pubkey));
    try {
      const sent = await topicSendEncrypted(this.api, this.ring, topic, text, {
        id: o.clientId,
        mentions: o.mentions,
        ...(o.replyTo ? { replyTo: o.replyTo } : {}),
        members: o.topicMembers ? async () => (await o.topicMembers!()).filter((k) => !restOnly.has(k)) : () => meshMembersWithKeys(this.api),
      });
      return sent as unknown as TopicMessage;
    } catch (error) {
      // The topic has a key this browser is not given yet (it joined after the current epoch): only a
      // member holding the key can add it, which a member's daemon or next post does.
      if (error instanceof EpochKeyError) {
        throw new Error(`this browser has no key for #${topic} yet; a member who holds it adds this browser (an agent's claudemesh daemon within seconds, or anyone's next post there): retry then`);
      }
      throw error;
    }
  }
}
