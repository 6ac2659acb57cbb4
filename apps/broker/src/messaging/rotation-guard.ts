import { ProtocolError } from '@claudemesh/core';
import type { EpochManifest } from '@claudemesh/crypto';

/**
 * Refuses a send under an epoch whose members are not the scope's members any more: E_EPOCH_STALE
 * with `rotate` naming who departed (listed but revoked or gone) and who joined (eligible but not
 * listed), so the sender publishes a new epoch first and a departed member's key opens nothing new.
 */
export function rotationGuard(currentEpoch: number, manifest: EpochManifest, eligible: readonly string[]): void {
  const now = new Set(eligible);
  const departed = manifest.members.filter((m) => !now.has(m));
  const joined = eligible.filter((m) => !manifest.members.includes(m));
  if (departed.length === 0 && joined.length === 0) return;
  const reason = departed.length > 0 ? 'member_removed' : 'member_added';
  throw new ProtocolError(
    'E_EPOCH_STALE',
    `key epoch ${currentEpoch} of ${manifest.scope === 'mesh' ? 'the mesh' : manifest.scope} no longer matches its members (${departed.length} departed, ${joined.length} joined): publish a new epoch, then send`,
    { current_epoch: currentEpoch, rotate: { reason, departed, joined } },
  );
}
