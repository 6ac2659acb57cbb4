import type { StoredMesh } from '@claudemesh/core';
import { cryptoReady, parseIdentity, type Identity } from '@claudemesh/crypto';
import { restError } from './rest-errors.js';

/**
 * A call over the broker's signed member routes (REST signed with this machine's member key, no API
 * key): a refusal becomes the CLI error with its code, a `next:` line (`hints` override the generic
 * one per code) and the documented exit code.
 */
export async function signedCall<T>(mesh: StoredMesh, work: (identity: Identity) => Promise<T>, hints: Record<string, string> = {}): Promise<T> {
  await cryptoReady();
  try {
    return await work(parseIdentity(mesh.identity));
  } catch (error) {
    throw restError(error, mesh, hints);
  }
}
