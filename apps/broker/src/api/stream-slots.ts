import { ProtocolError } from '@claudemesh/core';
import type { SseLimits } from '../config/rest-limits.config.js';

/**
 * Counts this node's open SSE streams per API key and per member, so one key (or one member's
 * keys together) cannot hold an unbounded number of long-lived connections and topic feeds.
 */
export class StreamSlots {
  private readonly byKey = new Map<string, number>();
  private readonly byMember = new Map<string, number>();

  constructor(private readonly limits: Pick<SseLimits, 'maxStreamsPerKey' | 'maxStreamsPerMember'>) {}

  /** Takes a slot or throws E_RATE_LIMITED; the returned function frees it (once, however often called). */
  reserve(keyId: string, memberId: string): () => void {
    const key = this.byKey.get(keyId) ?? 0;
    const member = this.byMember.get(memberId) ?? 0;
    if (key >= this.limits.maxStreamsPerKey) {
      throw new ProtocolError('E_RATE_LIMITED', `this API key already has ${this.limits.maxStreamsPerKey} open streams, its maximum; close one first`);
    }
    if (member >= this.limits.maxStreamsPerMember) {
      throw new ProtocolError('E_RATE_LIMITED', `this key's member already has ${this.limits.maxStreamsPerMember} open streams over all its keys, its maximum; close one first`);
    }
    this.byKey.set(keyId, key + 1);
    this.byMember.set(memberId, member + 1);
    let freed = false;
    return () => {
      if (freed) return;
      freed = true;
      decrement(this.byKey, keyId);
      decrement(this.byMember, memberId);
    };
  }
}

function decrement(map: Map<string, number>, id: string): void {
  const left = (map.get(id) ?? 1) - 1;
  if (left > 0) map.set(id, left);
  else map.delete(id);
}
