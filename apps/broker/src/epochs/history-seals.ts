import { ProtocolError } from '@claudemesh/core';
import { epochHistorySealString, verify, type EpochManifest, type EpochSeal } from '@claudemesh/crypto';
import type { DataSource } from 'typeorm';
import { rows } from '../db/sql.js';
import type { EpochCaller, ScopePolicy } from './epochs.service.js';

const invalid = (message: string): ProtocolError => new ProtocolError('E_EPOCH_INVALID', message);

/**
 * History seals (docs/protocol.md §5.6 "Shared history", docs/crypto.md "Shared history"): in a topic
 * whose history is `shared`, a member listed in a later epoch seals an earlier epoch's key to a member
 * that later epoch lists and the earlier one does not. What the broker checks is public: the topic's
 * setting, both epochs, who is listed where, that the recipient may read the topic now, and the
 * sealer's signature. Only the recipient can open the box and check the key against the commitment.
 */
export class HistorySealCheck {
  constructor(private readonly ds: DataSource) {}

  async check(caller: EpochCaller, policy: ScopePolicy, shared: EpochManifest, sharedHash: string, seals: ReadonlyArray<EpochSeal & { via_epoch: number }>): Promise<void> {
    if (policy.history !== 'shared') {
      throw new ProtocolError('E_FORBIDDEN', `${policy.label} keeps its history from members who join later (history since_join): it takes no history seals`);
    }
    const wanted = [...new Set(seals.map((x) => x.via_epoch))];
    const found = await rows<{ epoch: number; manifest: string; manifest_hash: string }>(
      this.ds,
      'SELECT epoch, manifest, manifest_hash FROM epoch_manifests WHERE mesh_id = $1 AND scope = $2 AND epoch = ANY($3::int[])',
      [caller.state.mesh.id, shared.scope, wanted],
    );
    const vias = new Map(found.map((r) => [Number(r.epoch), { manifest: JSON.parse(r.manifest) as EpochManifest, hash: r.manifest_hash }]));
    for (const s of seals) {
      const via = vias.get(s.via_epoch);
      if (!via) throw new ProtocolError('E_NOT_FOUND', `${policy.label} has no epoch ${s.via_epoch} to share epoch ${shared.epoch} under`);
      if (via.manifest.epoch <= shared.epoch) throw invalid(`history is shared under a later epoch: ${s.via_epoch} is not after ${shared.epoch}`);
      if (s.sealer !== caller.member.pubkey) throw new ProtocolError('E_FORBIDDEN', 'send only seals you made (sealer is another member)');
      if (!via.manifest.members.includes(s.sealer)) throw new ProtocolError('E_FORBIDDEN', `you are not a member of epoch ${s.via_epoch}: only its members share history under it`);
      if (!via.manifest.members.includes(s.recipient)) throw invalid(`a history seal is addressed to ${s.recipient}, who is not a member of epoch ${s.via_epoch}`);
      if (shared.members.includes(s.recipient)) throw invalid(`${s.recipient} is a member of epoch ${shared.epoch}: its copy is an ordinary seal (no via_epoch)`);
      const m = caller.state.byPubkey.get(s.recipient);
      if (!m || !policy.eligible(m)) throw new ProtocolError('E_FORBIDDEN', `${s.recipient} may not read ${policy.label} now: it gets no keys of it`);
      const fields = {
        meshId: shared.mesh_id, scope: shared.scope, epoch: shared.epoch, manifestHash: sharedHash, viaEpoch: s.via_epoch, viaManifestHash: via.hash,
        recipient: s.recipient, sealer: s.sealer, sealed: s.sealed,
      };
      if (!verify(epochHistorySealString(fields), s.sig, s.sealer)) throw invalid(`the history seal for ${s.recipient} is not signed by its sealer for epoch ${shared.epoch} under ${s.via_epoch}`);
    }
  }
}
