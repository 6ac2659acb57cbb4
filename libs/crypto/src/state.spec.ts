import { hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex, utf8Decode } from './encoding.js';
import type { Sealed } from './sealed.js';
import { generateMeshKey } from './secretbox.js';
import { cryptoReady } from './sodium.js';
import { deriveStateKey, stateDecrypt, stateEncrypt, stateEncryptWithNonce, type StateSlot } from './state.js';
import { codeOf } from '../test/code-of.js';

interface StateVectors {
  mesh_key_hex: string;
  state_key_hex: string;
  cases: { slot: StateSlot; value_utf8: string; sealed: Sealed }[];
  negative: { description: string; slot: StateSlot; sealed: Sealed; error: string }[];
}
const vectors = JSON.parse(readFileSync(new URL('../../../docs/test-vectors/state.json', import.meta.url), 'utf8')) as StateVectors;
const meshKey = fromHex(vectors.mesh_key_hex);

await cryptoReady();

describe('shared-state sealing', () => {
  it('derives the state key with HKDF-SHA256 exactly as node:crypto does', () => {
    const expected = Buffer.from(hkdfSync('sha256', meshKey, new Uint8Array(0), 'claudemesh/v1/state-key', 32));
    expect(toHex(deriveStateKey(meshKey))).toBe(expected.toString('hex'));
    expect(toHex(deriveStateKey(meshKey))).toBe(vectors.state_key_hex);
  });

  it.each(vectors.cases.map((c) => [c.slot.key, c] as const))('reproduces the vector for %s and opens it', (_, c) => {
    const nonce = Buffer.from(c.sealed.nonce, 'base64url');
    expect(stateEncryptWithNonce(c.value_utf8, meshKey, c.slot, nonce)).toEqual(c.sealed);
    expect(utf8Decode(stateDecrypt(c.sealed, meshKey, c.slot))).toBe(c.value_utf8);
  });

  it.each(vectors.negative.map((n) => [n.description, n] as const))('refuses %s', (_, n) => {
    expect(codeOf(() => stateDecrypt(n.sealed, meshKey, n.slot))).toBe(n.error);
  });

  it('round-trips any value in any slot, and only in that slot', () => {
    const key = generateMeshKey();
    const slotArb = fc.record({
      meshId: fc.uuid(),
      owner: fc.constantFrom('d'.repeat(64), 'e'.repeat(64)),
      key: fc.stringMatching(/^[a-z][a-z0-9/]{0,20}$/),
      version: fc.integer({ min: 1, max: 1000 }),
    });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), slotArb, (value, slot) => {
        const sealed = stateEncrypt(value, key, slot);
        expect(stateDecrypt(sealed, key, slot)).toEqual(value);
        expect(codeOf(() => stateDecrypt(sealed, key, { ...slot, version: slot.version + 1 }))).toBe('E_DECRYPT');
      }),
      { numRuns: 40 },
    );
  });

  it('does not open under another mesh key', () => {
    const sealed = stateEncrypt('x', meshKey, vectors.cases[0]!.slot);
    expect(codeOf(() => stateDecrypt(sealed, generateMeshKey(), vectors.cases[0]!.slot))).toBe('E_DECRYPT');
  });
});
