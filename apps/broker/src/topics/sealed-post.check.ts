import { ProtocolError, type EpochDue } from '@claudemesh/core';
import { topicScope, verifyEpochMessageSignature } from '@claudemesh/crypto';
import type { DataSource } from 'typeorm';
import { rows } from '../db/sql.js';
import { CurrentEpochs, onEpochAccepted } from '../epochs/current-epoch.js';
import { requireCurrentMembers } from '../epochs/epoch-guard.js';
import { EpochUse, epochDue, scheduledRotationDue, type EpochRotationPolicy } from '../epochs/epoch-use.js';
import type { MemberRecord } from '../meshes/mesh-directory.js';
import type { ResolvedTopic, SealedPost, TopicScope } from './topics.service.js';

/** What a sealed post's check learnt of its epoch: messages it carried before this one, and when it was accepted. */
export interface EpochUseNow {
  sent: number;
  acceptedAt: number;
}

/**
 * The broker's checks of a body_version 2 topic post (docs/protocol.md §5.2 `topic_send`, §5.6), and
 * the bookkeeping of scheduled rotation: how many posts each topic epoch carried, and the
 * `epoch_due` hint for a post stored near the bound.
 */
export class SealedPostCheck {
  private readonly use = new EpochUse();
  private readonly currentEpochs: CurrentEpochs;

  constructor(
    private readonly ds: DataSource,
    private readonly rotation: EpochRotationPolicy,
  ) {
    this.currentEpochs = new CurrentEpochs(ds);
    // A topic epoch accepted on this node starts its count at 0 here without a read.
    onEpochAccepted(ds, (e) => {
      if (e.scope.startsWith('topic:')) this.use.started(`${e.meshId}|${e.scope}`, e.epoch);
    });
  }

  /**
   * A sealed post must be under the scope's current epoch (E_EPOCH_STALE with current_epoch, 0
   * before epoch 1 exists), from a member listed in it, and signed by that member over the
   * associated data the broker rebuilds from public facts: this mesh, `topic:<name>`, the epoch
   * and its manifest hash, the sender's key and the client id. A post re-labelled to another topic,
   * epoch, sender or id fails here (E_MESSAGE_INVALID); recipients check it again with the AEAD.
   */
  async check(scope: TopicScope, t: ResolvedTopic, body: SealedPost, clientId: string): Promise<EpochUseNow> {
    const name = t.name;
    const epochScope = topicScope(name);
    // Answered from what this node last read when the post claims that epoch; the storing statement confirms it.
    const current = await this.currentEpochs.get(scope.state.mesh.id, epochScope, body.key_epoch);
    const currentEpoch = current?.epoch ?? 0;
    if (!current || body.key_epoch !== currentEpoch) {
      const why = current ? `the current key epoch of #${name} is ${currentEpoch}: sync it, encrypt again and resend` : `#${name} has no key epoch yet: publish epoch 1, then send`;
      throw new ProtocolError('E_EPOCH_STALE', why, { current_epoch: currentEpoch });
    }
    const manifest = current.manifest;
    if (!manifest.members.includes(scope.member.pubkey)) {
      throw new ProtocolError(
        'E_MESSAGE_INVALID',
        `you are not a member of key epoch ${currentEpoch} of #${name}: a member of it adds you with the next epoch (at its next post, or its daemon's next sweep)`,
      );
    }
    const fields = { meshId: scope.state.mesh.id, scope: epochScope, epoch: currentEpoch, manifestHash: current.manifestHash, sender: scope.member.pubkey, messageId: clientId };
    if (!verifyEpochMessageSignature({ nonce: body.nonce, ciphertext: body.ciphertext, sig: body.sig }, fields)) {
      throw new ProtocolError('E_MESSAGE_INVALID', `the message is not signed by you for #${name}, epoch ${currentEpoch} and id ${clientId}`);
    }
    // Last: only a post that would otherwise be stored learns that its epoch must be rotated first.
    requireCurrentMembers(scope.state, manifest, await this.keyHolders(t), `#${name}`, { shareHistory: t.history === 'shared' });
    const sent = await this.use.sent(`${scope.state.mesh.id}|${epochScope}`, currentEpoch, async () =>
      Number((await rows<{ n: number }>(this.ds, 'SELECT count(*)::int AS n FROM topic_messages WHERE topic_id = $1 AND key_epoch = $2', [t.id, currentEpoch]))[0]?.n ?? 0));
    if (scheduledRotationDue(this.rotation, sent, current.acceptedAt, Date.now())) {
      throw new ProtocolError(
        'E_EPOCH_STALE',
        `key epoch ${currentEpoch} of #${name} is due for its scheduled rotation (${sent} messages; every ${this.rotation.messages} messages or ${Math.round(this.rotation.afterMs / 3600_000)} h): publish epoch ${currentEpoch + 1} (reason scheduled) and send again`,
        { current_epoch: currentEpoch, rotate: { reason: 'scheduled', departed: [], joined: [] } },
      );
    }
    return { sent, acceptedAt: current.acceptedAt };
  }

  /**
   * Who may hold a topic's key now: every active member with a keypair for a public topic (any of
   * them may read it), the members of a private one. What the current epoch must list (§5.6).
   */
  private async keyHolders(t: ResolvedTopic): Promise<(m: MemberRecord) => boolean> {
    const keyed = (m: MemberRecord): boolean => !m.revoked && !m.restOnly;
    if (t.visibility === 'public') return keyed;
    const ids = new Set((await rows<{ member_id: string }>(this.ds, 'SELECT member_id FROM topic_members WHERE topic_id = $1', [t.id])).map((r) => String(r.member_id)));
    return (m) => keyed(m) && ids.has(m.id);
  }

  /** The storing statement found another epoch current than the one last read for this scope. */
  stale(meshId: string, epochScope: string): void {
    this.currentEpochs.forget(meshId, epochScope);
  }

  /**
   * In the storing transaction, once the topic's lock is held (its posts pass here one at a time):
   * takes the post's place under the message bound of scheduled rotation, so posts in flight together
   * cannot carry an epoch past it (E_EPOCH_STALE with `rotate` scheduled, as at check time). Returns
   * the messages the epoch carried before this one; `release` undoes it if the post is not stored.
   */
  reserve(meshId: string, epochScope: string, epoch: number, label: string, use: EpochUseNow): number {
    const before = this.use.reserve(`${meshId}|${epochScope}`, epoch) ?? use.sent;
    if (this.rotation.messages > 0 && before >= this.rotation.messages) {
      this.use.release(`${meshId}|${epochScope}`, epoch);
      throw new ProtocolError(
        'E_EPOCH_STALE',
        `key epoch ${epoch} of ${label} is due for its scheduled rotation (${before} messages; every ${this.rotation.messages} messages): publish epoch ${epoch + 1} (reason scheduled) and send again`,
        { current_epoch: epoch, rotate: { reason: 'scheduled', departed: [], joined: [] } },
      );
    }
    return before;
  }

  release(meshId: string, epochScope: string, epoch: number): void {
    this.use.release(`${meshId}|${epochScope}`, epoch);
  }

  /** The ack's `epoch_due` for a post stored as the epoch's message number `before + 1`, when its epoch nears rotation. */
  due(epoch: number, before: number, use: EpochUseNow): EpochDue | null {
    return epochDue(this.rotation, epoch, before + 1, use.acceptedAt, Date.now());
  }
}
