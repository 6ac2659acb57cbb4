import { describe, expect, it, vi } from 'vitest';
import { cryptoReady as sharedReady } from './sodium.js';

/**
 * Fresh copies of the modules, whatever ran before in this worker (files share a worker's module
 * cache: vitest runs without isolation), so libsodium has not been awaited by this copy yet.
 */
async function freshModules() {
  vi.resetModules();
  const [{ generateIdentity }, { sign, verify }, { cryptoReady }] = await Promise.all([import('./identity.js'), import('./signing.js'), import('./sodium.js')]);
  return { generateIdentity, sign, verify, cryptoReady };
}

describe('cryptoReady', () => {
  it('is required first: functions throw E_NOT_READY rather than misbehave', async () => {
    // Even after the worker's shared copy was made ready, as any earlier file would have.
    await sharedReady();
    const { generateIdentity, verify } = await freshModules();
    expect(() => generateIdentity()).toThrow(/E_NOT_READY/);
    // A verifier must not mistake "not initialised" for "bad signature".
    expect(() => verify('m', 'AA', '00'.repeat(32))).toThrow(/E_NOT_READY/);
  });

  it('can be awaited any number of times, after which everything works', async () => {
    const { generateIdentity, sign, verify, cryptoReady } = await freshModules();
    await Promise.all([cryptoReady(), cryptoReady()]);
    await cryptoReady();
    const id = generateIdentity();
    expect(verify('m', sign('m', id.secretKey), id.publicKey)).toBe(true);
  });
});
