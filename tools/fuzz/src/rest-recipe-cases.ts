/**
 * REST fuzzing, recipes: requests that pass authentication (real signatures), for the checks behind
 * it — mesh creation, invite registration, joins, short invites and replayed signed requests (run by
 * RestRunner.runRecipe).
 */
import fc from 'fast-check';
import { NASTY_STRINGS } from './frames.js';
import { JSON_CT, type Recipe, type RestCase } from './rest-model.js';

const nameArb = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }),
    fc.constantFrom(...NASTY_STRINGS).map((s) => `mesh ${s} name`),
    fc.constantFrom('m'.repeat(100), 'm'.repeat(101), '😀'.repeat(50), '😀'.repeat(51), 'a\rb', 'a\nb', '\u0000', 'x\ud800y', 'team alpha'),
  );
export const displayNameArb = (): fc.Arbitrary<string> =>
  fc
    .tuple(
      fc.constantFrom(...'abcdefghijklmnopqrstuvwxyABCDEFGHIJKLMNOPQRSTUVWXY0123456789'),
      fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789._-'), maxLength: 30 }),
    )
    .map(([a, b]) => a + b);

/** Requests that pass authentication (real signatures), for the checks behind it. */
export function recipeCase(): fc.Arbitrary<RestCase> {
  const create = fc
    .record({
      variant: fc.constantFrom('valid', 'valid', 'valid', 'stale', 'bad-sig', 'conflict', 'idempotent', 'no-admin' as const),
      name: nameArb(),
      displayName: displayNameArb(),
    })
    .map((r): Recipe => ({ kind: 'create-mesh', ...r }) as Recipe);
  const register = fc
    .record({
      variant: fc.constantFrom('valid', 'valid', 'expired', 'bad-invite-sig', 'issuer-other', 'other-mesh', 'conflict', 'idempotent', 'by-member', 'unknown-mesh' as const),
      maxUses: fc.oneof(fc.constantFrom(1, 1_000_000), fc.integer({ min: 1, max: 100 })),
    })
    .map((r): Recipe => ({ kind: 'register-invite', ...r }) as Recipe);
  const join = fc
    .record({
      variant: fc.constantFrom(
        'valid',
        'rejoin',
        'exhausted',
        'stale',
        'bad-sig',
        'invite-bad-sig',
        'invite-expired',
        'unknown-mesh',
        'name-taken',
        'revoked-invite',
        'member-issuer' as const,
      ),
      displayName: displayNameArb(),
      peerType: fc.constantFrom('ai', 'human', 'connector' as const),
    })
    .map((r): Recipe => ({ kind: 'join', ...r }) as Recipe);
  const shortInvite = fc
    .record({
      variant: fc.constantFrom(
        'valid',
        'valid',
        'rejoin',
        'exhausted',
        'revoked',
        'expired',
        'bad-record-sig',
        'bad-claim-sig',
        'not-found',
        'name-taken',
        'by-member' as const,
      ),
      displayName: displayNameArb(),
      peerType: fc.constantFrom('ai', 'human', 'connector' as const),
    })
    .map((r): Recipe => ({ kind: 'short-invite', ...r }) as Recipe);
  const replay = fc
    .constantFrom('members', 'list-invites', 'register-invite', 'revoke-invite', 'register-v2', 'refused' as const)
    .map((variant): Recipe => ({ kind: 'replay', variant }));
  return fc.oneof(create, register, join, shortInvite, replay).map((recipe): RestCase => ({
    label: `rest/recipe:${recipe.kind}:${recipe.variant}`,
    method: 'POST',
    path: '',
    contentType: JSON_CT,
    auth: { kind: 'none' },
    body: { kind: 'none' },
    recipe,
  }));
}
