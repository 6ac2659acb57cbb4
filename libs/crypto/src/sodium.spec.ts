import { describe, expect, it } from 'vitest';
import { generateIdentity } from './identity.js';
import { sign, verify } from './signing.js';
import { cryptoReady } from './sodium.js';

// Runs in its own module graph (vitest isolates spec files), so libsodium has not been awaited yet.
describe('cryptoReady', () => {
  it('is required first: functions throw E_NOT_READY rather than misbehave', () => {
    expect(() => generateIdentity()).toThrow(/E_NOT_READY/);
    // A verifier must not mistake "not initialised" for "bad signature".
    expect(() => verify('m', 'AA', '00'.repeat(32))).toThrow(/E_NOT_READY/);
  });

  it('can be awaited any number of times, after which everything works', async () => {
    await Promise.all([cryptoReady(), cryptoReady()]);
    await cryptoReady();
    const id = generateIdentity();
    expect(verify('m', sign('m', id.secretKey), id.publicKey)).toBe(true);
  });
});
