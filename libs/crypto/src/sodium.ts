import sodium from 'libsodium-wrappers-sumo';
import { CryptoError } from './errors.js';

export type Sodium = typeof sodium;

let ready = false;

/** Loads the libsodium WASM module. Idempotent; every other function needs it awaited once. */
export async function cryptoReady(): Promise<void> {
  await sodium.ready;
  ready = true;
}

/** The initialised libsodium object; throws a clear error instead of a later "x is not a function". */
export function na(): Sodium {
  if (!ready) throw new CryptoError('E_NOT_READY', 'await cryptoReady() before using @claudemesh/crypto');
  return sodium;
}
