/**
 * The values each field kind of a client frame takes (docs/protocol.md §5.2): its JSON kind,
 * arbitraries for schema-valid values, and boundary values with whether the schema accepts them.
 * frames.ts builds whole frames and their mutations from these.
 */
import fc from 'fast-check';
import { CAPABILITIES, DEFAULT_CAPABILITIES, LIMITS, TOPIC_LIMITS, type Capability } from '@claudemesh/core';

// ---------------------------------------------------------------------------------------------
// Field kinds

export type FieldKind =
  | 'type'
  | 'v'
  | 'uuid'
  | 'pubkey'
  | 'epoch'
  | 'sig'
  | 'challengeNonce'
  | 'peerType'
  | 'client'
  | 'clientId'
  | 'target'
  | 'boxNonce'
  | 'ciphertext'
  | 'messageIds'
  | 'clientIds'
  | 'reqId'
  | 'summary'
  | 'status'
  | 'group'
  | 'receipts'
  | 'capabilities'
  | 'tags'
  | 'blocked'
  | 'stateKey'
  | 'version'
  | 'stateCiphertext'
  | 'topic'
  | 'topicText'
  | 'topicMessageId'
  | 'topicCursor'
  | 'historyLimit'
  | 'epochScope'
  | 'epochNumber'
  | 'afterEpoch'
  | 'signedManifest'
  | 'epochSeals'
  | 'bodyVersion'
  | 'topicCiphertext'
  | 'mentions';

export type JsonKind = 'string' | 'number' | 'boolean' | 'array' | 'object';
export const JSON_KIND: Record<FieldKind, JsonKind> = {
  type: 'string',
  v: 'number',
  uuid: 'string',
  pubkey: 'string',
  epoch: 'number',
  sig: 'string',
  challengeNonce: 'string',
  peerType: 'string',
  client: 'string',
  clientId: 'string',
  target: 'string',
  boxNonce: 'string',
  ciphertext: 'string',
  messageIds: 'array',
  clientIds: 'array',
  reqId: 'string',
  summary: 'string',
  status: 'string',
  group: 'string',
  receipts: 'string',
  capabilities: 'array',
  tags: 'array',
  blocked: 'boolean',
  stateKey: 'string',
  version: 'number',
  stateCiphertext: 'string',
  topic: 'string',
  topicText: 'string',
  topicMessageId: 'string',
  topicCursor: 'string',
  historyLimit: 'number',
  epochScope: 'string',
  epochNumber: 'number',
  afterEpoch: 'number',
  signedManifest: 'object',
  epochSeals: 'array',
  bodyVersion: 'number',
  topicCiphertext: 'string',
  mentions: 'array',
};
/** Fields whose schema is an ASCII-only pattern or enum: any non-ASCII character makes them invalid. */
export const ASCII_ONLY = new Set<FieldKind>([
  'uuid',
  'pubkey',
  'sig',
  'challengeNonce',
  'peerType',
  'clientId',
  'target',
  'boxNonce',
  'ciphertext',
  'status',
  'group',
  'receipts',
  'stateKey',
  'stateCiphertext',
  'topic',
  'topicMessageId',
  'topicCursor',
  'epochScope',
  'topicCiphertext',
]);

// ---------------------------------------------------------------------------------------------
// Primitive value arbitraries

export const B64U = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
export const HEX = '0123456789abcdef';
export const GROUP_REST = 'abcdefghijklmnopqrstuvwxyz0123456789_-';
export const NAME_REST = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-';

export const chars = (alphabet: string, minLength: number, maxLength: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...alphabet), minLength, maxLength });

/** Canonical base64url of `minBytes`–`maxBytes` random bytes (§1.1): the only spelling a schema accepts. */
export const b64uOf = (minBytes: number, maxBytes: number): fc.Arbitrary<string> => fc.uint8Array({ minLength: minBytes, maxLength: maxBytes }).map((b) => Buffer.from(b).toString('base64url'));

/** §1.1 free text: no NUL, no lone surrogate (JSON.stringify would carry it as an escape). */
export const isFreeText = (s: string): boolean => !s.includes('\u0000') && Buffer.from(s, 'utf8').toString('utf8') === s;

/** `n` copies of `Q` (low bits zero), one fewer when `n` is an impossible base64url length (4k+1). */
const qs = (n: number): string => 'Q'.repeat(n % 4 === 1 ? n - 1 : n);

/**
 * Arbitraries are built once: fast-check precomputes bias tables when a string arbitrary is created,
 * which costs far more than drawing a value from it.
 */
export function memo<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

export function memoBy<K, T>(make: (key: K) => T): (key: K) => T {
  const cache = new Map<K, T>();
  return (key) => {
    let value = cache.get(key);
    if (value === undefined) cache.set(key, (value = make(key)));
    return value;
  };
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const STATE_KEY_REST = `${ALNUM}._:/-`;
const STATE_KEY_POOL = ['plan/current', 'lock', 'task:1', 'task:2', 'notes.md', 'a', 'Z', '0', 'cfg/v-1_x', 'x'.repeat(128)];
export const MAX_STATE_VERSION = 2 ** 31 - 1;
const maxStateCipherChars = Math.ceil(((LIMITS.maxStateValueBytes + 16) * 4) / 3);
/** base64url characters of the longest sealed topic text (TOPIC_LIMITS.maxCiphertextBytes). */
const maxTopicCipherChars = Math.ceil((TOPIC_LIMITS.maxCiphertextBytes * 4) / 3);

export const MAX_EPOCH = 8_640_000_000_000_000;
const NOW_ISH = 1_767_225_600_000;

export const arb = {
  uuid: memo((): fc.Arbitrary<string> => fc.uuid()),
  pubkey: memo((): fc.Arbitrary<string> => chars(HEX, 64, 64)),
  sig: memo((): fc.Arbitrary<string> => b64uOf(64, 64)),
  boxNonce: memo((): fc.Arbitrary<string> => chars(B64U, 32, 32)),
  challengeNonce: memo((): fc.Arbitrary<string> => b64uOf(1, 96)),
  epoch: memo((): fc.Arbitrary<number> =>
    fc.oneof(
      fc.constantFrom(0, 1, NOW_ISH, MAX_EPOCH, 2 ** 31, 2 ** 32),
      fc.nat(),
      fc.maxSafeNat().map((n) => n % (MAX_EPOCH + 1)),
    ),
  ),
  clientId: memo((): fc.Arbitrary<string> => chars(B64U, 8, 64)),
  /** 1–64 characters of free text (§1.1). */
  reqId: memo((): fc.Arbitrary<string> =>
    fc
      .oneof(chars(B64U, 1, 24), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 16 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 32 }))
      .filter((s) => s.length >= 1 && s.length <= 64 && isFreeText(s)),
  ),
  summary: memo((): fc.Arbitrary<string> =>
    fc
      .oneof(
        { weight: 6, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
        { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
        { weight: 1, arbitrary: fc.constantFrom('', 'x'.repeat(LIMITS.maxSummaryChars), '😀'.repeat(LIMITS.maxSummaryChars / 2)) },
      )
      .filter((s) => s.length <= LIMITS.maxSummaryChars && isFreeText(s)),
  ),
  client: memo((): fc.Arbitrary<string> => fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => s.length <= 128 && isFreeText(s))),
  /** Group names members may join: never starting with `zz` (reserved for groups that never exist). */
  joinableGroup: memo((): fc.Arbitrary<string> => fc.tuple(fc.constantFrom(...'abcdefghijklmnopqrstuvwxy0123456789'), chars(GROUP_REST, 0, 63)).map(([a, b]) => a + b)),
  missingGroup: memo((): fc.Arbitrary<string> => chars(GROUP_REST, 0, 62).map((s) => `zz${s}`)),
  missingName: memo((): fc.Arbitrary<string> => chars(NAME_REST, 0, 62).map((s) => `zz${s}`)),
  messageId: memo((): fc.Arbitrary<string> =>
    fc.oneof(
      { weight: 5, arbitrary: fc.integer({ min: 1, max: 3000 }).map(String) },
      { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...'123456789'), chars('0123456789', 0, 18)).map(([a, b]) => a + b) },
      // Valid by the wire pattern, beyond a signed 64-bit sequence.
      { weight: 1, arbitrary: fc.constantFrom('9223372036854775807', '9223372036854775808', '9999999999999999999', '18446744073709551616'.slice(0, 19)) },
    ),
  ),
  ciphertext: memo((): fc.Arbitrary<string> =>
    fc.oneof({ weight: 20, arbitrary: b64uOf(16, 150) }, { weight: 1, arbitrary: fc.integer({ min: 1000, max: 40_000 }).map(qs) }),
  ),
  receipts: memo((): fc.Arbitrary<string> => fc.constantFrom('all', 'read', 'none')),
  /** A capability set without repeats, in any order; sometimes exactly the defaults (the row is deleted). */
  capabilities: memo((): fc.Arbitrary<Capability[]> =>
    fc.oneof(
      { weight: 6, arbitrary: fc.shuffledSubarray([...CAPABILITIES]) },
      { weight: 2, arbitrary: fc.shuffledSubarray([...DEFAULT_CAPABILITIES], { minLength: DEFAULT_CAPABILITIES.length }) },
      { weight: 1, arbitrary: fc.constant<Capability[]>([]) },
    ),
  ),
  /** A session's tags (§5.7): 0–32 distinct `name` or `name:value`, lowercase. */
  tags: memo((): fc.Arbitrary<string[]> =>
    fc.uniqueArray(
      fc.tuple(chars('abcdefghijklmnopqrstuvwxyz', 1, 1), chars('abcdefghijklmnopqrstuvwxyz0123456789-', 0, 12), fc.option(chars('abcdefghijklmnopqrstuvwxyz0123456789._/@+-', 1, 20), { nil: undefined }))
        .filter(([, , v]) => v === undefined || /^[a-z0-9]/.test(v))
        .map(([a, b, v]) => `${a}${b}${v === undefined ? '' : `:${v}`}`),
      { maxLength: LIMITS.maxTagsPerSession },
    ),
  ),
  blocked: memo((): fc.Arbitrary<boolean> => fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) })),
  /** Keys most writes share, so versions climb and conflict (§6.4). */
  poolStateKey: memo((): fc.Arbitrary<string> => fc.constantFrom(...STATE_KEY_POOL)),
  /** Any key the pattern allows: almost always one no write has created yet. */
  freshStateKey: memo((): fc.Arbitrary<string> => fc.tuple(chars(ALNUM, 1, 1), chars(STATE_KEY_REST, 0, 127)).map(([a, b]) => a + b)),
  stateKey: memo((): fc.Arbitrary<string> => fc.oneof({ weight: 4, arbitrary: arb.poolStateKey() }, { weight: 1, arbitrary: arb.freshStateKey() })),
  /** The version a write creates: mostly small, so a pool key's next version is often drawn. */
  version: memo((): fc.Arbitrary<number> =>
    fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 1, max: 4 }) },
      { weight: 3, arbitrary: fc.integer({ min: 1, max: 40 }) },
      { weight: 1, arbitrary: fc.constantFrom(MAX_STATE_VERSION, MAX_STATE_VERSION - 1, 1000) },
    ),
  ),
  /** Topic names no mesh of the run has (every mesh has only #general): `zz…`. */
  missingTopic: memo((): fc.Arbitrary<string> => chars(GROUP_REST, 0, 62).map((s) => `zz${s}`)),
  /** Topic text: free text (§1.1), up to the 16 000 limit. */
  topicText: memo((): fc.Arbitrary<string> =>
    fc
      .oneof(
        { weight: 8, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }) },
        { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 200 }) },
        { weight: 1, arbitrary: fc.constantFrom('@owner ping', 'x'.repeat(TOPIC_LIMITS.maxTextChars), '😀'.repeat(TOPIC_LIMITS.maxTextChars / 2)) },
      )
      .filter((s) => s.length >= 1 && s.length <= TOPIC_LIMITS.maxTextChars && isFreeText(s)),
  ),
  historyLimit: memo((): fc.Arbitrary<number> => fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constantFrom(50, TOPIC_LIMITS.maxHistoryPage))),
  /** Scopes of the run's meshes: the mesh scope, #general, or a topic no mesh has (`zz…`). */
  epochScope: memo((): fc.Arbitrary<string> =>
    fc.oneof({ weight: 3, arbitrary: fc.constantFrom('mesh', 'topic:general') }, { weight: 1, arbitrary: chars(GROUP_REST, 0, 60).map((s) => `topic:zz${s}`) }),
  ),
  epochNumber: memo((): fc.Arbitrary<number> => fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 4 }) }, { weight: 1, arbitrary: fc.constant(2 ** 31 - 1) })),
  afterEpoch: memo((): fc.Arbitrary<number> => fc.integer({ min: 0, max: 4 })),
  /** Seals of the right form under random keys: one per recipient, so never repeated. */
  epochSeals: memo((): fc.Arbitrary<Array<Record<string, string>>> =>
    fc.uniqueArray(fc.record({ recipient: arb.pubkey(), sealer: arb.pubkey(), sealed: b64uOf(80, 80), sig: arb.sig() }), { maxLength: 3, selector: (x) => x.recipient }),
  ),
  bodyVersion: memo((): fc.Arbitrary<number> => fc.constantFrom(1, 2)),
  mentions: memo((): fc.Arbitrary<string[]> => fc.uniqueArray(arb.pubkey(), { maxLength: 3 })),
  /** A sealed topic text (body_version 2): at least the 16-byte tag and one byte, up to TOPIC_LIMITS.maxCiphertextBytes. */
  topicCiphertext: memo((): fc.Arbitrary<string> =>
    fc.oneof({ weight: 20, arbitrary: b64uOf(17, 300) }, { weight: 1, arbitrary: fc.integer({ min: 1000, max: maxTopicCipherChars }).map(qs) }),
  ),
  stateCiphertext: memo((): fc.Arbitrary<string> =>
    fc.oneof({ weight: 20, arbitrary: b64uOf(16, 150) }, { weight: 1, arbitrary: fc.integer({ min: 1000, max: maxStateCipherChars }).map(qs) }),
  ),
};

// ---------------------------------------------------------------------------------------------
// Boundary values per field kind: raw JSON text, and whether the field's schema accepts it.

export interface Boundary {
  text: string;
  valid: boolean;
  what: string;
}

const s = (value: string, valid: boolean, what: string): Boundary => ({ text: JSON.stringify(value), valid, what });
const raw = (text: string, valid: boolean, what: string): Boundary => ({ text, valid, what });
const ids = (n: number, id: (i: number) => string): string => JSON.stringify(Array.from({ length: n }, (_, i) => id(i)));
const maxCipherChars = Math.ceil((LIMITS.maxCiphertextBytes * 4) / 3);

const BOUNDARIES: Record<Exclude<FieldKind, 'type'>, Boundary[]> = {
  v: [raw('1.0', true, '1.0'), raw('1e0', true, '1e0'), raw('2', false, '2'), raw('0', false, '0'), raw('-1', false, '-1'), raw('"1"', false, 'string')],
  uuid: [
    s('3F2A1C4E-5B6D-4E7F-8A9B-0C1D2E3F4A5B', false, 'upper'),
    s('3f2a1c4e5b6d4e7f8a9b0c1d2e3f4a5b', false, 'no-dashes'),
    s('{3f2a1c4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b}', false, 'braces'),
    s('', false, 'empty'),
    s('00000000-0000-0000-0000-000000000000', true, 'nil'),
  ],
  pubkey: [
    s('a'.repeat(63), false, '63'),
    s('a'.repeat(65), false, '65'),
    s('A'.repeat(64), false, 'upper'),
    s('g'.repeat(64), false, 'non-hex'),
    s('0'.repeat(64), true, 'zeros'),
  ],
  epoch: [
    raw('-1', false, '-1'),
    raw('0', true, '0'),
    raw('-0', true, '-0'),
    raw('1.5', false, 'fraction'),
    raw(String(MAX_EPOCH), true, 'max'),
    raw(String(MAX_EPOCH + 1), false, 'max+1'),
    raw('9007199254740993', false, '2^53+1'),
    raw('1e400', false, '1e400'),
    raw('"1767225600000"', false, 'string'),
  ],
  sig: [
    s('A'.repeat(85), false, '85'),
    s('A'.repeat(87), false, '87'),
    s(`${'A'.repeat(85)}+`, false, 'plus'),
    s(`${'A'.repeat(84)}==`, false, 'padded'),
    s(`${'A'.repeat(85)}B`, false, 'trailing-bits'),
    s(`${'A'.repeat(85)}w`, true, 'canonical-w'),
  ],
  challengeNonce: [
    s('', false, 'empty'),
    s('A'.repeat(128), true, '128'),
    s('A'.repeat(129), false, '129'),
    s('AAAA=', false, 'padded'),
    s('AAAAA', false, 'impossible-length'),
    s('AB', false, 'trailing-bits'),
    s('AQ', true, 'one-byte'),
  ],
  peerType: [s('robot', false, 'unknown'), s('AI', false, 'upper'), s('human', true, 'human'), raw('null', false, 'null')],
  client: [s('c'.repeat(128), true, '128'), s('c'.repeat(129), false, '129'), s('', true, 'empty'), s('a\u0000', false, 'nul'), raw('"cli\\ud800"', false, 'lone-surrogate'), s('😀'.repeat(128), true, '128-code-points')],
  clientId: [
    s('a'.repeat(7), false, '7'),
    s('a'.repeat(8), true, '8'),
    s('a'.repeat(64), true, '64'),
    s('a'.repeat(65), false, '65'),
    s('abcdefg.', false, 'dot'),
    s('abcdefg h', false, 'space'),
    s('abcdefgh=', false, 'pad'),
  ],
  target: [
    s('**', false, '**'),
    s('@', false, '@'),
    s('@Bad', false, '@Bad'),
    s('Bad Group', false, 'space'),
    s('', false, 'empty'),
    s('A'.repeat(64), true, 'upper-hex-name'),
    s('x'.repeat(65), false, '65'),
    s('.abc', false, 'leading-dot'),
    s(`@zz${'a'.repeat(62)}`, true, '@64'),
    s(`@zz${'a'.repeat(63)}`, false, '@65'),
    s(`zz${'b'.repeat(62)}`, true, 'name-64'),
  ],
  boxNonce: [s('A'.repeat(31), false, '31'), s('A'.repeat(33), false, '33'), s(`${'A'.repeat(30)}==`, false, 'padded'), s(`${'_'.repeat(32)}`, true, 'all-ones')],
  ciphertext: [
    s('', false, 'empty'),
    s('====', false, 'pad'),
    s('A'.repeat(20), false, '15-bytes'),
    s('A'.repeat(21), false, 'impossible-length'),
    s('A'.repeat(22), true, '16-bytes'),
    s(`${'A'.repeat(21)}B`, false, 'trailing-bits'),
    s(`${'A'.repeat(22)}D`, false, 'trailing-bits-3'),
    s('A'.repeat(maxCipherChars), true, 'max'),
    s('A'.repeat(maxCipherChars + 1), false, 'max+1'),
  ],
  messageIds: [
    raw('[]', false, 'empty'),
    raw(
      ids(LIMITS.maxIdsPerFrame, (i) => String(i + 1)),
      true,
      '500',
    ),
    raw(
      ids(LIMITS.maxIdsPerFrame + 1, (i) => String(i + 1)),
      false,
      '501',
    ),
    raw('["0"]', false, '0'),
    raw('["01"]', false, '01'),
    raw('["-1"]', false, '-1'),
    raw(JSON.stringify(['1'.repeat(20)]), false, '20-digits'),
    raw('["9999999999999999999"]', true, '19-nines'),
    raw('["9223372036854775808"]', true, 'int8+1'),
    raw('[1]', false, 'number'),
    raw('["1.0"]', false, '1.0'),
    raw('[" 1"]', false, 'space'),
    raw('["1","1","1"]', true, 'repeated'),
  ],
  clientIds: [
    raw('[]', false, 'empty'),
    raw(
      ids(LIMITS.maxIdsPerFrame, (i) => `cid-${String(i).padStart(6, '0')}`),
      true,
      '500',
    ),
    raw(
      ids(LIMITS.maxIdsPerFrame + 1, (i) => `cid-${String(i).padStart(6, '0')}`),
      false,
      '501',
    ),
    raw('["short"]', false, 'short'),
  ],
  reqId: [
    s('', false, 'empty'),
    s('r'.repeat(64), true, '64'),
    s('r'.repeat(65), false, '65'),
    s('\u0000', false, 'nul'),
    raw('"\\udc00"', false, 'lone-surrogate'),
    s(' ', true, 'space'),
    s('😀'.repeat(64), true, '64-code-points'),
    s('😀'.repeat(65), false, '65-code-points'),
  ],
  summary: [
    s('x'.repeat(LIMITS.maxSummaryChars), true, '1024'),
    s('x'.repeat(LIMITS.maxSummaryChars + 1), false, '1025'),
    s('', true, 'empty'),
    s('😀'.repeat(LIMITS.maxSummaryChars), true, '1024-code-points'),
    s('😀'.repeat(LIMITS.maxSummaryChars + 1), false, '1025-code-points'),
    s('a\u0000b', false, 'nul'),
    raw('"x\\ud83d"', false, 'lone-surrogate'),
    s('line\nbreak\ttab', true, 'controls'),
  ],
  status: [s('sleeping', false, 'unknown'), s('IDLE', false, 'upper'), s('', false, 'empty')],
  receipts: [s('read', true, 'read'), s('ALL', false, 'upper'), s('delivered', false, 'unknown'), s('', false, 'empty'), raw('null', false, 'null')],
  tags: [
    raw('[]', true, 'empty'),
    raw(JSON.stringify(Array.from({ length: LIMITS.maxTagsPerSession }, (_, i) => `t${i}`)), true, '32'),
    raw(JSON.stringify(Array.from({ length: LIMITS.maxTagsPerSession + 1 }, (_, i) => `t${i}`)), false, '33'),
    raw('["repo:billing","repo:billing"]', false, 'repeat'),
    raw('["Repo:billing"]', false, 'upper'),
    raw('["repo:"]', false, 'empty-value'),
    raw('[":billing"]', false, 'empty-name'),
    raw(JSON.stringify([`r:${'x'.repeat(128)}`]), true, 'value-128'),
    raw(JSON.stringify([`r:${'x'.repeat(129)}`]), false, 'value-129'),
    raw('["repo billing"]', false, 'space'),
    raw('[7]', false, 'number'),
  ],
  capabilities: [
    raw('[]', true, 'empty'),
    raw(JSON.stringify(CAPABILITIES), true, 'all'),
    raw(JSON.stringify([...DEFAULT_CAPABILITIES].reverse()), true, 'defaults'),
    raw('["dm","dm"]', false, 'repeat'),
    raw('["state-write","read","state-write"]', false, 'repeat-apart'),
    raw(JSON.stringify([...CAPABILITIES, ...CAPABILITIES, ...CAPABILITIES, 'dm', 'read']), false, '17'),
    raw('["admin"]', false, 'unknown'),
    raw('["DM"]', false, 'upper'),
    raw('["state_read"]', false, 'underscore'),
    raw('[" dm"]', false, 'space'),
    raw('[null]', false, 'null-item'),
    raw('"dm"', false, 'string'),
  ],
  blocked: [raw('true', true, 'true'), raw('false', true, 'false'), raw('0', false, '0'), raw('1', false, '1'), raw('"true"', false, 'string'), raw('null', false, 'null')],
  stateKey: [
    s('a', true, '1'),
    s('k'.repeat(128), true, '128'),
    s('k'.repeat(129), false, '129'),
    s('9/._:-', true, 'punctuation'),
    s('/plan', false, 'leading-slash'),
    s('.plan', false, 'leading-dot'),
    s('-plan', false, 'leading-dash'),
    s('_plan', false, 'leading-underscore'),
    s('plan current', false, 'space'),
    s('plan\\x', false, 'backslash'),
    s('plan\n', false, 'newline'),
    s('plan?', false, 'question'),
    s('', false, 'empty'),
  ],
  version: [
    raw('1', true, '1'),
    raw('1.0', true, '1.0'),
    raw('1e0', true, '1e0'),
    raw(String(MAX_STATE_VERSION), true, 'int4-max'),
    raw(String(MAX_STATE_VERSION + 1), false, 'int4-max+1'),
    raw('0', false, '0'),
    raw('-0', false, '-0'),
    raw('-1', false, '-1'),
    raw('1.5', false, 'fraction'),
    raw('1e400', false, '1e400'),
    raw('"1"', false, 'string'),
  ],
  stateCiphertext: [
    s('', false, 'empty'),
    s('====', false, 'pad'),
    s('A'.repeat(20), false, '15-bytes'),
    s('A'.repeat(21), false, 'impossible-length'),
    s('A'.repeat(22), true, '16-bytes'),
    s(`${'A'.repeat(21)}B`, false, 'trailing-bits'),
    s('A'.repeat(maxStateCipherChars), true, 'max'),
    s('A'.repeat(maxStateCipherChars + 1), false, 'max+1'),
    s('A'.repeat(maxCipherChars), false, 'send-max'),
  ],
  topic: [
    s('general', true, 'general'),
    s('#general', false, 'hash'),
    s('General', false, 'upper'),
    s('-x', false, 'leading-dash'),
    s(`zz${'t'.repeat(62)}`, true, '64'),
    s(`zz${'t'.repeat(63)}`, false, '65'),
    s('', false, 'empty'),
  ],
  topicText: [
    s('', false, 'empty'),
    s('x', true, '1'),
    s('x'.repeat(TOPIC_LIMITS.maxTextChars), true, 'max'),
    s('x'.repeat(TOPIC_LIMITS.maxTextChars + 1), false, 'max+1'),
    s('a\u0000b', false, 'nul'),
    raw('"\\udc00 tail"', false, 'lone-surrogate'),
    s('😀'.repeat(TOPIC_LIMITS.maxTextChars / 2), true, 'max-utf16'),
    s('😀'.repeat(TOPIC_LIMITS.maxTextChars), true, 'max-code-points'),
    s('😀'.repeat(TOPIC_LIMITS.maxTextChars + 1), false, 'max+1-code-points'),
  ],
  topicMessageId: [s('0', false, '0'), s('01', false, '01'), s('1'.repeat(20), false, '20-digits'), s('9999999999999999999', true, '19-nines'), raw('1', false, 'number')],
  topicCursor: [s('0', true, '0'), s('00', false, '00'), s('01', false, '01'), s('1'.repeat(20), false, '20-digits'), s('9999999999999999999', true, '19-nines'), raw('0', false, 'number')],
  historyLimit: [
    raw('1', true, '1'),
    raw(String(TOPIC_LIMITS.maxHistoryPage), true, 'max'),
    raw(String(TOPIC_LIMITS.maxHistoryPage + 1), false, 'max+1'),
    raw('0', false, '0'),
    raw('1.5', false, 'fraction'),
    raw('"5"', false, 'string'),
  ],
  epochScope: [s('mesh', true, 'mesh'), s('topic:general', true, 'topic'), s('topic:', false, 'empty-topic'), s('Mesh', false, 'upper'), s('topic:#general', false, 'hash'), s('group:x', false, 'other'), s('', false, 'empty')],
  epochNumber: [raw('1', true, '1'), raw(String(2 ** 31 - 1), true, 'int4-max'), raw(String(2 ** 31), false, 'int4-max+1'), raw('0', false, '0'), raw('1.5', false, 'fraction'), raw('"1"', false, 'string')],
  afterEpoch: [raw('0', true, '0'), raw(String(2 ** 31 - 1), true, 'int4-max'), raw(String(2 ** 31), false, 'int4-max+1'), raw('-1', false, '-1'), raw('null', false, 'null')],
  signedManifest: [
    raw('{}', false, 'empty'),
    raw(JSON.stringify({ manifest: {}, sig: 'A'.repeat(86) }), false, 'empty-manifest'),
    raw('null', false, 'null'),
  ],
  bodyVersion: [raw('1', true, '1'), raw('2', true, '2'), raw('3', false, '3'), raw('0', false, '0'), raw('"2"', false, 'string')],
  mentions: [
    raw('[]', true, 'empty'),
    raw(JSON.stringify(['a'.repeat(64)]), true, 'one'),
    raw(JSON.stringify(['A'.repeat(64)]), false, 'upper'),
    raw('"a"', false, 'string'),
    // Mentions may repeat (the broker records each member once); at most TOPIC_LIMITS.maxMentions.
    raw(JSON.stringify(Array.from({ length: 2 }, () => 'a'.repeat(64))), true, 'repeated'),
    raw(JSON.stringify(Array.from({ length: TOPIC_LIMITS.maxMentions }, (_, i) => i.toString(16).padStart(64, '0'))), true, 'max'),
    raw(JSON.stringify(Array.from({ length: TOPIC_LIMITS.maxMentions + 1 }, (_, i) => i.toString(16).padStart(64, '0'))), false, 'max+1'),
  ],
  topicCiphertext: [
    s('', false, 'empty'),
    s('A'.repeat(22), false, '16-bytes'),
    s('A'.repeat(23), true, '17-bytes'),
    s(`${'A'.repeat(22)}B`, false, 'trailing-bits'),
    s('A'.repeat(25), false, 'impossible-length'),
    s('A'.repeat(maxTopicCipherChars), true, 'max'),
    s('A'.repeat(maxTopicCipherChars + 1), false, 'max+1'),
  ],
  epochSeals: [
    raw('[]', true, 'empty'),
    raw(JSON.stringify([{ recipient: 'a'.repeat(64), sealer: 'b'.repeat(64), sealed: 'A'.repeat(107), sig: 'A'.repeat(86) }]), true, 'one-seal'),
    raw(JSON.stringify([{ recipient: 'a'.repeat(64), sealer: 'b'.repeat(64), sealed: 'A'.repeat(106), sig: 'A'.repeat(86) }]), false, 'sealed-79-bytes'),
    raw(JSON.stringify(Array.from({ length: 2 }, () => ({ recipient: 'a'.repeat(64), sealer: 'b'.repeat(64), sealed: 'A'.repeat(107), sig: 'A'.repeat(86) }))), false, 'same-recipient'),
    raw(JSON.stringify([{ recipient: 'A'.repeat(64), sealer: 'b'.repeat(64), sealed: 'A'.repeat(107), sig: 'A'.repeat(86) }]), false, 'upper-hex'),
    raw(JSON.stringify([{ recipient: 'a'.repeat(64), sealer: 'b'.repeat(64), sealed: `${'A'.repeat(106)}B`, sig: 'A'.repeat(86) }]), false, 'trailing-bits'),
  ],
  group: [s('g'.repeat(64), true, '64'), s('g'.repeat(65), false, '65'), s('Ops', false, 'upper'), s('-x', false, 'leading-dash'), s('@ops', false, 'at'), s('', false, 'empty')],
};

export const boundaryArb = memoBy((kind: Exclude<FieldKind, 'type'>) => fc.constantFrom(...BOUNDARIES[kind]));
