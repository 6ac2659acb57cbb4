import { Inject, Injectable } from '@nestjs/common';
import { ProtocolError, type EpochDue, type SendFrame } from '@claudemesh/core';
import { verifyEpochMessageSignature } from '@claudemesh/crypto';
import { DataSource } from 'typeorm';
import { rows } from '../db/sql.js';
import type { MemberRecord, MeshState } from '../meshes/mesh-directory.js';
import { BROKER_CONFIG, type BrokerConfig } from '../config/broker.config.js';
import { CurrentEpochs, onEpochAccepted, type CurrentEpoch } from '../epochs/current-epoch.js';
import { requireCurrentMembers } from '../epochs/epoch-guard.js';
import { EpochUse, epochDue, scheduledRotationDue } from '../epochs/epoch-use.js';

/** What a stored `@group` / `*` message keeps of its body version: both null for the mesh key. */
export interface MeshEpochFields {
  keyEpoch: number | null;
  sig: string | null;
  /** The ack's `epoch_due` should the message be stored (not a duplicate): its epoch nears its scheduled rotation. */
  due?: EpochDue;
}

const NONE: MeshEpochFields = { keyEpoch: null, sig: null };

/**
 * The body-version rules of `@group` and `*` sends (docs/protocol.md §5.2 `send`). Before the mesh
 * scope has an epoch, body_version 1 (the mesh key) is taken and body_version 2 refused with
 * E_EPOCH_STALE (current_epoch 0). Once it has one, body_version 1 is refused (E_EPOCH_REQUIRED) and
 * a body_version 2 message must be under the current epoch (E_EPOCH_STALE), from a member listed in
 * it and signed by the sender over this mesh, the epoch and its manifest hash, the sender, the
 * client id and the target (E_MESSAGE_INVALID), and the epoch must still list exactly the mesh's
 * members with keys (E_EPOCH_STALE with `rotate`, epoch-guard.ts). The broker cannot open the
 * message; recipients check it again with the AEAD.
 */
@Injectable()
export class MeshEpochCheck {
  /** Messages under the mesh scope's current epoch (approximate across nodes, as for topics). */
  private readonly use = new EpochUse();
  private readonly currentEpochs: CurrentEpochs;

  constructor(
    private readonly ds: DataSource,
    @Inject(BROKER_CONFIG) private readonly config: BrokerConfig,
  ) {
    this.currentEpochs = new CurrentEpochs(ds);
    // A mesh epoch accepted on this node starts its count at 0 here without a read.
    onEpochAccepted(ds, (e) => {
      if (e.scope === 'mesh') this.use.started(e.meshId, e.epoch);
    });
  }

  /** A message under `epoch` of the mesh was stored (not a duplicate). */
  stored(meshId: string, epoch: number): void {
    this.use.posted(meshId, epoch);
  }

  private sent(meshId: string, epoch: number): Promise<number> {
    return this.use.sent(meshId, epoch, async () =>
      Number((await rows<{ n: number }>(this.ds, 'SELECT count(*)::int AS n FROM messages WHERE mesh_id = $1 AND key_epoch = $2', [meshId, epoch]))[0]?.n ?? 0));
  }

  async check(state: MeshState, sender: MemberRecord, frame: SendFrame, target: string): Promise<MeshEpochFields> {
    const current = await this.current(state.mesh.id);
    const version = frame.body_version ?? 1;
    if (version === 1) {
      if (current) {
        throw new ProtocolError(
          'E_EPOCH_REQUIRED',
          `the mesh has key epoch ${current.epoch}: send @group and * messages as body_version 2 under it (the mesh key no longer carries them)`,
          { current_epoch: current.epoch },
        );
      }
      return NONE;
    }
    if (!current || frame.key_epoch !== current.epoch) {
      const why = current ? `the mesh's current key epoch is ${current.epoch}: sync it, encrypt again and resend` : 'the mesh has no key epoch yet: publish epoch 1 of the mesh scope, then send';
      throw new ProtocolError('E_EPOCH_STALE', why, { current_epoch: current?.epoch ?? 0 });
    }
    if (!current.manifest.members.includes(sender.pubkey)) {
      throw new ProtocolError('E_MESSAGE_INVALID', `you are not a member of key epoch ${current.epoch} of the mesh: an epoch listing you comes first`);
    }
    const fields = {
      meshId: state.mesh.id, scope: 'mesh', epoch: current.epoch, manifestHash: current.manifestHash, sender: sender.pubkey, messageId: frame.id, target,
    };
    if (!verifyEpochMessageSignature({ nonce: frame.nonce, ciphertext: frame.ciphertext, sig: frame.sig! }, fields)) {
      throw new ProtocolError('E_MESSAGE_INVALID', `the message is not signed by you for the mesh, epoch ${current.epoch}, id ${frame.id} and target ${target}`);
    }
    // Last, as for topics: only a message that would otherwise be stored learns the epoch must rotate first.
    requireCurrentMembers(state, current.manifest, (m) => !m.revoked && !m.restOnly, 'the mesh');
    const policy = this.config.epochRotation;
    const sent = await this.sent(state.mesh.id, current.epoch);
    if (scheduledRotationDue(policy, sent, current.acceptedAt, Date.now())) {
      throw new ProtocolError(
        'E_EPOCH_STALE',
        `key epoch ${current.epoch} of the mesh is due for its scheduled rotation (${sent} messages; every ${policy.messages} messages or ${Math.round(policy.afterMs / 3600_000)} h): publish epoch ${current.epoch + 1} (reason scheduled) and send again`,
        { current_epoch: current.epoch, rotate: { reason: 'scheduled', departed: [], joined: [] } },
      );
    }
    const due = epochDue(policy, current.epoch, sent + 1, current.acceptedAt, Date.now());
    return { keyEpoch: current.epoch, sig: frame.sig!, ...(due ? { due } : {}) };
  }

  private current(meshId: string): Promise<CurrentEpoch | null> {
    return this.currentEpochs.get(meshId, 'mesh');
  }

}
