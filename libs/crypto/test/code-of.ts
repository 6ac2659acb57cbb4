import { CryptoError } from '../src/errors.js';

/** The CryptoError code `f` throws, `undefined` when it returns, or a marker for any other throw. */
export function codeOf(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (err) {
    return err instanceof CryptoError ? err.code : 'not a CryptoError';
  }
}
