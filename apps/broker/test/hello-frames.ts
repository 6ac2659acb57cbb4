import { generateIdentity, type Identity } from '@claudemesh/crypto';
import { signedHello } from '../../../tools/fuzz/src/keys.js';

/** Builds a correctly signed hello with a fresh session key, with overrides applied after signing (to forge bad ones). */
export function buildHello(meshId: string, member: Identity, nonce: string, overrides: Record<string, unknown> = {}, opts: { ts?: number; expiresAt?: number } = {}) {
  return { ...signedHello(meshId, member, generateIdentity(), nonce, opts), ...overrides };
}
