/**
 * fast-check arbitraries for client frames (docs/protocol.md §5.2): schema-valid frames of every
 * type, and mutations of them. Every generated case carries, where the mutation alone decides it,
 * the code the protocol requires (§3.3): a truncated object is `E_BAD_FRAME`, an unknown `type` is
 * `E_UNKNOWN_TYPE`, a dropped required key is `E_SCHEMA`, anything above 256 KiB is `E_TOO_LARGE`…
 * The oracle (oracle.ts) cross-checks that declared code against its own reading of the frame.
 *
 * Pure: no I/O, no clock. Values that depend on the live mesh (member names, keys) come in through
 * `FrameContext`, so a seed always yields the same cases for the same context.
 */
import fc from 'fast-check';
import { CLIENT_FRAME_SCHEMAS, LIMITS, type ClientFrameType, type ErrorCode } from '@claudemesh/core';
import { entriesOf, nestedText, objectText, utf8Length, wireText, type Entry, type JsonValue } from './json-text.js';

export const CLIENT_FRAME_TYPES = Object.keys(CLIENT_FRAME_SCHEMAS) as ClientFrameType[];
export const SERVER_FRAME_TYPES = ['challenge', 'hello_ack', 'error', 'ack', 'push', 'receipt', 'peers', 'ok', 'message_status_result'] as const;

/** Live-mesh values the generators may use. Unknown targets always start with `zz`, which no member name does. */
export interface FrameContext {
  meshId: string;
  /** Send targets that resolve for the whole run: display names, member pubkeys, session pubkeys. */
  knownTargets: string[];
  /** `@group` targets that exist for the whole run. */
  knownGroups: string[];
}

export type Expected = ErrorCode | 'valid';

export interface FrameCase {
  /** `type/operator:detail`, for reports and statistics. */
  label: string;
  /** Text frames hold the exact wire text (lone surrogates already replaced, as a WebSocket peer sends them). */
  data: string | Uint8Array;
  binary: boolean;
  /**
   * The outcome of decoding (§3.3) that the mutation determines by itself: an error code, or `valid`
   * for a frame that still matches its schema. Absent when only a full decode can tell.
   */
  expect?: Expected;
}

// ---------------------------------------------------------------------------------------------
// Field table (§5.2)

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
  | 'group';

export interface FieldSpec {
  name: string;
  kind: FieldKind;
  required: boolean;
}

const f = (name: string, kind: FieldKind, required = true): FieldSpec => ({ name, kind, required });
const TYPE = f('type', 'type');

export const FRAME_FIELDS: Record<ClientFrameType, FieldSpec[]> = {
  hello: [
    TYPE,
    f('v', 'v'),
    f('mesh_id', 'uuid'),
    f('member_pubkey', 'pubkey'),
    f('session_pubkey', 'pubkey'),
    f('session_expires_at', 'epoch'),
    f('session_sig', 'sig'),
    f('nonce', 'challengeNonce'),
    f('ts', 'epoch'),
    f('sig', 'sig'),
    f('peer_type', 'peerType', false),
    f('client', 'client', false),
  ],
  send: [TYPE, f('id', 'clientId'), f('to', 'target'), f('nonce', 'boxNonce'), f('ciphertext', 'ciphertext')],
  delivered: [TYPE, f('message_ids', 'messageIds')],
  read: [TYPE, f('message_ids', 'messageIds')],
  list_peers: [TYPE, f('req_id', 'reqId')],
  set_summary: [TYPE, f('req_id', 'reqId', false), f('summary', 'summary')],
  set_status: [TYPE, f('req_id', 'reqId', false), f('status', 'status')],
  join_group: [TYPE, f('req_id', 'reqId', false), f('group', 'group')],
  leave_group: [TYPE, f('req_id', 'reqId', false), f('group', 'group')],
  // Exactly one of message_ids / client_ids: both are "optional", dropping the present one is a violation.
  message_status: [TYPE, f('req_id', 'reqId'), f('message_ids', 'messageIds', false), f('client_ids', 'clientIds', false)],
};

type JsonKind = 'string' | 'number' | 'array';
const JSON_KIND: Record<FieldKind, JsonKind> = {
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
};
/** Fields whose schema is an ASCII-only pattern or enum: any non-ASCII character makes them invalid. */
const ASCII_ONLY = new Set<FieldKind>(['uuid', 'pubkey', 'sig', 'challengeNonce', 'peerType', 'clientId', 'target', 'boxNonce', 'ciphertext', 'status', 'group']);

// ---------------------------------------------------------------------------------------------
// Primitive value arbitraries

const B64U = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const HEX = '0123456789abcdef';
const GROUP_REST = 'abcdefghijklmnopqrstuvwxyz0123456789_-';
const NAME_REST = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-';

const chars = (alphabet: string, minLength: number, maxLength: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...alphabet), minLength, maxLength });

/**
 * Arbitraries are built once: fast-check precomputes bias tables when a string arbitrary is created,
 * which costs far more than drawing a value from it.
 */
function memo<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

function memoBy<K, T>(make: (key: K) => T): (key: K) => T {
  const cache = new Map<K, T>();
  return (key) => {
    let value = cache.get(key);
    if (value === undefined) cache.set(key, (value = make(key)));
    return value;
  };
}

const MAX_EPOCH = 8_640_000_000_000_000;
const NOW_ISH = 1_767_225_600_000;

export const arb = {
  uuid: memo((): fc.Arbitrary<string> => fc.uuid()),
  pubkey: memo((): fc.Arbitrary<string> => chars(HEX, 64, 64)),
  sig: memo((): fc.Arbitrary<string> => chars(B64U, 86, 86)),
  boxNonce: memo((): fc.Arbitrary<string> => chars(B64U, 32, 32)),
  challengeNonce: memo((): fc.Arbitrary<string> => chars(B64U, 1, 128)),
  epoch: memo((): fc.Arbitrary<number> =>
    fc.oneof(
      fc.constantFrom(0, 1, NOW_ISH, MAX_EPOCH, 2 ** 31, 2 ** 32),
      fc.nat(),
      fc.maxSafeNat().map((n) => n % (MAX_EPOCH + 1)),
    ),
  ),
  clientId: memo((): fc.Arbitrary<string> => chars(B64U, 8, 64)),
  /** 1–64 UTF-16 units of any text: the schema only bounds the length. */
  reqId: memo((): fc.Arbitrary<string> =>
    fc
      .oneof(chars(B64U, 1, 24), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 16 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 32 }))
      .filter((s) => s.length >= 1 && s.length <= 64),
  ),
  summary: memo((): fc.Arbitrary<string> =>
    fc
      .oneof(
        { weight: 6, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
        { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
        { weight: 1, arbitrary: fc.constantFrom('', 'x'.repeat(LIMITS.maxSummaryChars), '😀'.repeat(LIMITS.maxSummaryChars / 2)) },
      )
      .filter((s) => s.length <= LIMITS.maxSummaryChars),
  ),
  client: memo((): fc.Arbitrary<string> => fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => s.length <= 128)),
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
    fc.oneof(
      { weight: 20, arbitrary: chars(B64U, 22, 200) },
      // Schema-valid but under 16 bytes once decoded: E_SCHEMA from the send path.
      { weight: 2, arbitrary: chars(B64U, 1, 21) },
      { weight: 1, arbitrary: fc.integer({ min: 1000, max: 40_000 }).map((n) => 'Q'.repeat(n)) },
    ),
  ),
};

const targetArb = memoBy((ctx: FrameContext): fc.Arbitrary<string> => {
  const options: Array<fc.WeightedArbitrary<string>> = [
    { weight: 2, arbitrary: fc.constant('*') },
    { weight: 2, arbitrary: arb.missingName() },
    { weight: 1, arbitrary: arb.missingGroup().map((g) => `@${g}`) },
    { weight: 1, arbitrary: arb.pubkey() },
  ];
  if (ctx.knownTargets.length > 0) options.push({ weight: 6, arbitrary: fc.constantFrom(...ctx.knownTargets) });
  if (ctx.knownGroups.length > 0) options.push({ weight: 2, arbitrary: fc.constantFrom(...ctx.knownGroups) });
  return fc.oneof(...options);
});

const optionalReqId = memo((): fc.Arbitrary<string | undefined> => fc.option(arb.reqId(), { nil: undefined, freq: 3 }));

// ---------------------------------------------------------------------------------------------
// Valid frames

export type FrameObject = Record<string, unknown>;

const validFrames = memoBy((ctx: FrameContext) => memoBy((type: ClientFrameType) => buildValidFrame(ctx, type)));

export function validFrame(ctx: FrameContext, type: ClientFrameType): fc.Arbitrary<FrameObject> {
  return validFrames(ctx)(type);
}

function buildValidFrame(ctx: FrameContext, type: ClientFrameType): fc.Arbitrary<FrameObject> {
  switch (type) {
    case 'hello':
      return fc.record(
        {
          type: fc.constant('hello'),
          v: fc.constant(1),
          mesh_id: fc.oneof(fc.constant(ctx.meshId), arb.uuid()),
          member_pubkey: arb.pubkey(),
          session_pubkey: arb.pubkey(),
          session_expires_at: arb.epoch(),
          session_sig: arb.sig(),
          nonce: arb.challengeNonce(),
          ts: arb.epoch(),
          sig: arb.sig(),
          peer_type: fc.constantFrom('ai', 'human', 'connector'),
          client: arb.client(),
        },
        { requiredKeys: ['type', 'v', 'mesh_id', 'member_pubkey', 'session_pubkey', 'session_expires_at', 'session_sig', 'nonce', 'ts', 'sig'] },
      );
    case 'send':
      return fc.record({ type: fc.constant('send'), id: arb.clientId(), to: targetArb(ctx), nonce: arb.boxNonce(), ciphertext: arb.ciphertext() });
    case 'delivered':
    case 'read':
      return fc.record({ type: fc.constant(type), message_ids: fc.array(arb.messageId(), { minLength: 1, maxLength: 40 }) });
    case 'list_peers':
      return fc.record({ type: fc.constant('list_peers'), req_id: arb.reqId() });
    case 'set_summary':
      return fc.record({ type: fc.constant('set_summary'), req_id: optionalReqId(), summary: arb.summary() });
    case 'set_status':
      return fc.record({ type: fc.constant('set_status'), req_id: optionalReqId(), status: fc.constantFrom('idle', 'working', 'dnd') });
    case 'join_group':
    case 'leave_group':
      return fc.record({ type: fc.constant(type), req_id: optionalReqId(), group: arb.joinableGroup() });
    case 'message_status':
      return fc.oneof(
        fc.record({ type: fc.constant('message_status'), req_id: arb.reqId(), message_ids: fc.array(arb.messageId(), { minLength: 1, maxLength: 20 }) }),
        fc.record({ type: fc.constant('message_status'), req_id: arb.reqId(), client_ids: fc.array(arb.clientId(), { minLength: 1, maxLength: 20 }) }),
      );
  }
}

const frameTypeArb = fc.constantFrom(...CLIENT_FRAME_TYPES);

export const anyValidFrame = memoBy((ctx: FrameContext): fc.Arbitrary<{ type: ClientFrameType; frame: FrameObject }> =>
  frameTypeArb.chain((type) => validFrame(ctx, type).map((frame) => ({ type, frame: stripUndefined(frame) }))),
);

function stripUndefined(frame: FrameObject): FrameObject {
  return Object.fromEntries(Object.entries(frame).filter(([, v]) => v !== undefined));
}

// ---------------------------------------------------------------------------------------------
// Junk values

/** Any JSON value, including unicode strings and deep-ish nesting. */
export const jsonJunk = memo((): fc.Arbitrary<JsonValue> => fc.jsonValue({ maxDepth: 4, stringUnit: 'binary' }) as fc.Arbitrary<JsonValue>);

/** JSON text of a value whose JSON type differs from `kind`. */
const wrongTypeText = memoBy((kind: JsonKind): fc.Arbitrary<string> => {
  const pool: Array<fc.Arbitrary<string>> = [
    fc.constantFrom('null', 'true', 'false', '{}', '{"":null}', '[]'),
    fc.dictionary(fc.string({ maxLength: 5 }), jsonJunk(), { maxKeys: 3 }).map((o) => JSON.stringify(o)),
  ];
  if (kind !== 'string') pool.push(fc.string({ unit: 'binary', maxLength: 30 }).map((s) => JSON.stringify(s)));
  if (kind !== 'number') pool.push(fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })).map((n) => JSON.stringify(n)));
  if (kind !== 'array') pool.push(fc.array(jsonJunk(), { maxLength: 4 }).map((a) => JSON.stringify(a)));
  return fc.oneof(...pool);
});

/** Strings that stress text handling: NUL, lone surrogates, bidi and zero-width marks, astral planes. */
export const NASTY_STRINGS = [
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  'x\ud83d',
  '\ud83d\ude00',
  '\u202e\u2066evil',
  '\u200b',
  '\ufeff',
  '\uffff',
  '\ufffd',
  'Ｓｅｎｄ',
  '١٢٣',
  'e\u0301',
  '🚀🚀',
  '\u2028\u2029',
  '\u001b[31m',
  '\\',
  '"',
  '</script>',
  '%00',
  '${x}',
  '{{x}}',
  'ﬀ',
  'DROP TABLE members;--',
  "' OR 1=1 --",
  '\r\n',
  ' ',
  '',
];

const unicodeString = memo((): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constantFrom(...NASTY_STRINGS),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }),
    fc.tuple(fc.constantFrom(...NASTY_STRINGS), fc.string({ unit: 'grapheme', maxLength: 10 })).map(([a, b]) => b + a + b),
  ),
);

/** Mostly shallow, sometimes deep nesting. */
const depthArb = memoBy((max: number): fc.Arbitrary<number> =>
  fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 64 }) }, { weight: 1, arbitrary: fc.integer({ min: 65, max }) }),
);

const hasNonAscii = (s: string): boolean => /[^\x20-\x7e]/.test(s);

// ---------------------------------------------------------------------------------------------
// Boundary values per field kind: raw JSON text, and whether the field's schema accepts it.

interface Boundary {
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
  sig: [s('A'.repeat(85), false, '85'), s('A'.repeat(87), false, '87'), s(`${'A'.repeat(85)}+`, false, 'plus'), s(`${'A'.repeat(84)}==`, false, 'padded')],
  challengeNonce: [s('', false, 'empty'), s('A'.repeat(128), true, '128'), s('A'.repeat(129), false, '129'), s('AAAA=', false, 'padded')],
  peerType: [s('robot', false, 'unknown'), s('AI', false, 'upper'), s('human', true, 'human'), raw('null', false, 'null')],
  client: [s('c'.repeat(128), true, '128'), s('c'.repeat(129), false, '129'), s('', true, 'empty')],
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
  boxNonce: [s('A'.repeat(31), false, '31'), s('A'.repeat(33), false, '33'), s(`${'A'.repeat(30)}==`, false, 'padded')],
  ciphertext: [
    s('', false, 'empty'),
    s('====', false, 'pad'),
    s('A'.repeat(21), true, '15-bytes'),
    s('A'.repeat(22), true, '16-bytes'),
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
    s('\u0000', true, 'nul'),
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
  ],
  status: [s('sleeping', false, 'unknown'), s('IDLE', false, 'upper'), s('', false, 'empty')],
  group: [s('g'.repeat(64), true, '64'), s('g'.repeat(65), false, '65'), s('Ops', false, 'upper'), s('-x', false, 'leading-dash'), s('@ops', false, 'at'), s('', false, 'empty')],
};

const boundaryArb = memoBy((kind: Exclude<FieldKind, 'type'>) => fc.constantFrom(...BOUNDARIES[kind]));

/** Raw number-ish tokens: the first list is not JSON at all, the second is JSON with odd values. */
const BAD_NUMBER_TOKENS = ['NaN', 'Infinity', '-Infinity', '+1', '01', '0x10', '1.', '.5', '1e', '--1', '1_000', '０', 'undefined', "'1'"];
const ODD_NUMBER_TOKENS = ['-0', '1e400', '-1e400', '1E3', '123456789012345678901234567890', '0.0000001', '1e-400', '8640000000000000.0', '4.2e1'];

/** Type names that are not v1 client frames: server frames, case variants, prototype names. */
const UNKNOWN_TYPES = [
  ...SERVER_FRAME_TYPES,
  'Send',
  'SEND',
  ' send',
  'send ',
  'send\u0000',
  'hello\n',
  'list-peers',
  'listPeers',
  'teleport',
  '',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '__defineGetter__',
  'ｓｅｎｄ',
];

const EXTRA_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '',
  ' ',
  'type ',
  'TYPE',
  'Type',
  'reqId',
  'req-id',
  'id',
  'extra',
  'v',
  '\u0000',
  'ｔｙｐｅ',
];

function keyVariants(key: string): string[] {
  const camel = key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return [key.toUpperCase(), `${key} `, ` ${key}`, `${key}\u0000`, camel, `${key}_`, key.replace(/e/g, 'е') /* Cyrillic е */, `"${key}"`];
}

// ---------------------------------------------------------------------------------------------
// Mutations of a valid frame

interface Base {
  type: ClientFrameType;
  frame: FrameObject;
}

type Mutation = (base: Base) => fc.Arbitrary<FrameCase>;

const text = (label: string, data: string, expect?: Expected): FrameCase => ({ label, data: wireText(data), binary: false, ...(expect !== undefined ? { expect } : {}) });

function fieldsPresent(base: Base): FieldSpec[] {
  return FRAME_FIELDS[base.type].filter((spec) => Object.hasOwn(base.frame, spec.name));
}

/** Whether removing `spec` from the frame leaves it schema-valid. */
function droppable(base: Base, spec: FieldSpec): boolean {
  if (base.type === 'message_status' && (spec.name === 'message_ids' || spec.name === 'client_ids')) return false;
  return !spec.required;
}

function replaceValue(entries: Entry[], key: string, valueText: string): Entry[] {
  return entries.map(([k, v]) => (k === key ? [k, valueText] : [k, v]));
}

const dropKey: Mutation = (base) =>
  fc.constantFrom(...fieldsPresent(base)).map((spec) => {
    const entries = entriesOf(base.frame).filter(([k]) => k !== spec.name);
    return text(`${base.type}/drop:${spec.name}`, objectText(entries), droppable(base, spec) ? 'valid' : 'E_SCHEMA');
  });

const extraKeyArb = memo(() => fc.oneof(fc.constantFrom(...EXTRA_KEYS), fc.string({ unit: 'binary', maxLength: 12 })).map(wireText));
const extraValueArb = memo(() =>
  fc.oneof(
    jsonJunk().map((v) => JSON.stringify(v)),
    fc.constant(nestedText(50, 'object')),
  ),
);

const addKey: Mutation = (base) => {
  const known = new Set(FRAME_FIELDS[base.type].map((spec) => spec.name));
  const name = extraKeyArb().filter((k) => !known.has(k));
  const value = extraValueArb();
  return fc.tuple(name, value, fc.boolean()).map(([key, v, first]) => {
    const entries = entriesOf(base.frame);
    const extra: Entry = [key, v];
    return text(`${base.type}/add:${JSON.stringify(key).slice(0, 20)}`, objectText(first ? [extra, ...entries] : [...entries, extra]), 'E_SCHEMA');
  });
};

const renameKey: Mutation = (base) => {
  const known = new Set(FRAME_FIELDS[base.type].map((spec) => spec.name));
  return fc
    .constantFrom(...fieldsPresent(base))
    .chain((spec) =>
      fc
        .constantFrom(
          ...keyVariants(spec.name)
            .map(wireText)
            .filter((k) => !known.has(k)),
        )
        .map((to) => ({ spec, to })),
    )
    .map(({ spec, to }) => {
      const entries = entriesOf(base.frame).map(([k, v]): Entry => (k === spec.name ? [to, v] : [k, v]));
      return text(`${base.type}/rename:${spec.name}`, objectText(entries), 'E_SCHEMA');
    });
};

const wrongType: Mutation = (base) =>
  fc
    .constantFrom(...fieldsPresent(base))
    .chain((spec) => wrongTypeText(JSON_KIND[spec.kind]).map((v) => ({ spec, v })))
    .map(({ spec, v }) => text(`${base.type}/wrong-type:${spec.name}`, objectText(replaceValue(entriesOf(base.frame), spec.name, v)), 'E_SCHEMA'));

const boundary: Mutation = (base) => {
  const specs = fieldsPresent(base).filter((spec) => spec.kind !== 'type');
  if (specs.length === 0) return dropKey(base);
  return fc
    .constantFrom(...specs)
    .chain((spec) => boundaryArb(spec.kind as Exclude<FieldKind, 'type'>).map((b) => ({ spec, b })))
    .map(({ spec, b }) => text(`${base.type}/boundary:${spec.name}=${b.what}`, objectText(replaceValue(entriesOf(base.frame), spec.name, b.text)), b.valid ? 'valid' : 'E_SCHEMA'));
};

const unicodeValue: Mutation = (base) => {
  const specs = fieldsPresent(base).filter((spec) => JSON_KIND[spec.kind] === 'string' && spec.kind !== 'type');
  if (specs.length === 0) return wrongType(base);
  return fc.tuple(fc.constantFrom(...specs), unicodeString()).map(([spec, raw]) => {
    const value = wireText(raw);
    const expect: Expected | undefined = ASCII_ONLY.has(spec.kind) && hasNonAscii(value) ? 'E_SCHEMA' : undefined;
    return text(`${base.type}/unicode:${spec.name}`, objectText(replaceValue(entriesOf(base.frame), spec.name, JSON.stringify(value))), expect);
  });
};

const nestedJunk: Mutation = (base) =>
  fc
    .tuple(fc.constantFrom(...fieldsPresent(base)), depthArb(20_000), fc.constantFrom<'array' | 'object'>('array', 'object'))
    .map(([spec, depth, kind]) =>
      text(`${base.type}/nested-${kind}:${spec.name}`, objectText(replaceValue(entriesOf(base.frame), spec.name, nestedText(depth, kind))), 'E_SCHEMA'),
    );

const rawNumber: Mutation = (base) =>
  fc
    .tuple(
      fc.constantFrom(...fieldsPresent(base)),
      fc.oneof(
        fc.constantFrom(...BAD_NUMBER_TOKENS).map((t) => ({ t, bad: true })),
        fc.constantFrom(...ODD_NUMBER_TOKENS).map((t) => ({ t, bad: false })),
      ),
    )
    .map(([spec, { t, bad }]) =>
      text(
        `${base.type}/number-token:${spec.name}=${t}`,
        objectText(replaceValue(entriesOf(base.frame), spec.name, t)),
        bad ? 'E_BAD_FRAME' : spec.kind === 'type' ? 'E_SCHEMA' : undefined,
      ),
    );

const truncate: Mutation = (base) => {
  const full = objectText(entriesOf(base.frame));
  return fc.integer({ min: 0, max: full.length - 1 }).map((cut) => text(`${base.type}/truncate`, wireText(full.slice(0, cut)), 'E_BAD_FRAME'));
};

const duplicateValueArb = memo(() =>
  fc.oneof(
    jsonJunk().map((v) => JSON.stringify(v)),
    fc.constantFrom(...CLIENT_FRAME_TYPES).map((t) => JSON.stringify(t)),
  ),
);

const duplicateKey: Mutation = (base) =>
  fc.tuple(fc.constantFrom(...fieldsPresent(base)), duplicateValueArb(), fc.boolean()).map(([spec, junk, before]) => {
    const entries = entriesOf(base.frame);
    const at = entries.findIndex(([k]) => k === spec.name);
    const dup: Entry = [spec.name, junk];
    // JSON.parse keeps the last occurrence: junk placed before the original is overridden.
    const out = before ? [...entries.slice(0, at), dup, ...entries.slice(at)] : [...entries, dup];
    return text(`${base.type}/duplicate-${before ? 'before' : 'after'}:${spec.name}`, objectText(out), before ? 'valid' : undefined);
  });

const unknownTypeArb = memo(() =>
  fc
    .oneof(fc.constantFrom(...UNKNOWN_TYPES), fc.string({ unit: 'binary', maxLength: 20 }))
    .map(wireText)
    .filter((t) => !(CLIENT_FRAME_TYPES as string[]).includes(t)),
);

const unknownType: Mutation = (base) =>
  unknownTypeArb().map((t) => text(`${base.type}/unknown-type`, objectText(replaceValue(entriesOf(base.frame), 'type', JSON.stringify(t))), 'E_UNKNOWN_TYPE'));

/** Whitespace between tokens keeps a frame valid; a BOM or non-JSON spaces do not. */
const whitespace: Mutation = (base) =>
  fc.constantFrom('spaces', 'bom', 'nbsp').map((how) => {
    const entries = entriesOf(base.frame);
    if (how === 'spaces') {
      const spaced = `{\n${entries.map(([k, v]) => ` ${JSON.stringify(k)} :\t${v} `).join(',\r\n')}\n}`;
      return text(`${base.type}/ws:spaces`, ` \t\r\n${spaced}\n `, 'valid');
    }
    return text(`${base.type}/ws:${how}`, `${how === 'bom' ? '\ufeff' : '\u00a0'}${objectText(entries)}`, 'E_BAD_FRAME');
  });

/** Frames at and around the 256 KiB limit, which counts UTF-8 bytes, not characters. */
const sizeLimit: Mutation = (base) =>
  fc.tuple(fc.constantFrom('exact-limit', 'limit+1', 'limit-bytes', 'oversize'), fc.integer({ min: 1, max: 60_000 })).map(([how, extra]) => {
    const entries = entriesOf(base.frame);
    const body = objectText(entries);
    switch (how) {
      case 'exact-limit':
        return text(
          `${base.type}/size:exact-limit`,
          body + ' '.repeat(Math.max(0, LIMITS.maxFrameBytes - utf8Length(body))),
          utf8Length(body) <= LIMITS.maxFrameBytes ? 'valid' : 'E_TOO_LARGE',
        );
      case 'limit+1':
        return text(`${base.type}/size:limit+1`, body + ' '.repeat(Math.max(1, LIMITS.maxFrameBytes + 1 - utf8Length(body))), 'E_TOO_LARGE');
      case 'limit-bytes': {
        // Fewer than 256 Ki characters but more than 256 KiB of UTF-8.
        const pad = 'é'.repeat(Math.ceil((LIMITS.maxFrameBytes + 1) / 2));
        return text(`${base.type}/size:limit-bytes`, objectText([...entries, ['pad', JSON.stringify(pad)]]), 'E_TOO_LARGE');
      }
      default: {
        // `,"pad":""` adds 9 bytes: the frame ends up exactly `extra` bytes over the limit.
        const pad = 'A'.repeat(Math.max(0, LIMITS.maxFrameBytes + extra - utf8Length(body) - 9));
        return text(`${base.type}/size:oversize`, objectText([...entries, ['pad', JSON.stringify(pad)]]), 'E_TOO_LARGE');
      }
    }
  });

const MUTATIONS: Array<{ weight: number; op: Mutation }> = [
  { weight: 6, op: dropKey },
  { weight: 6, op: addKey },
  { weight: 4, op: renameKey },
  { weight: 6, op: wrongType },
  { weight: 8, op: boundary },
  { weight: 5, op: unicodeValue },
  { weight: 2, op: nestedJunk },
  { weight: 3, op: rawNumber },
  { weight: 4, op: truncate },
  { weight: 4, op: duplicateKey },
  { weight: 3, op: unknownType },
  { weight: 2, op: whitespace },
];

function baseFrame(ctx: FrameContext, type?: ClientFrameType): fc.Arbitrary<Base> {
  return type ? validFrame(ctx, type).map((frame) => ({ type, frame: stripUndefined(frame) })) : anyValidFrame(ctx);
}

/** Mutations of a valid frame of `type` (all types when absent). */
const mutationIndex = memo(() => fc.oneof(...MUTATIONS.map(({ weight }, i) => ({ weight, arbitrary: fc.constant(i) }))));

export function mutatedFrame(ctx: FrameContext, type?: ClientFrameType): fc.Arbitrary<FrameCase> {
  // Draw the operator first, then build only that one mutation's arbitrary for this base frame.
  return fc
    .tuple(baseFrame(ctx, type), mutationIndex())
    .chain(([b, i]) => MUTATIONS[i]!.op(b))
    .map(sizeCheck);
}

/** Frames at, just above and well above the 256 KiB frame limit (each is 256 KiB or more: use sparingly). */
export function sizeCase(ctx: FrameContext, type?: ClientFrameType): fc.Arbitrary<FrameCase> {
  return baseFrame(ctx, type).chain(sizeLimit).map(sizeCheck);
}

/** Valid frames as text. */
export function validCase(ctx: FrameContext, type?: ClientFrameType): fc.Arbitrary<FrameCase> {
  return baseFrame(ctx, type).map(({ type: t, frame }) => sizeCheck(text(`${t}/valid`, wireText(JSON.stringify(frame)), 'valid')));
}

// ---------------------------------------------------------------------------------------------
// Frames that were never a valid frame

const SYNTAX_JUNK = [
  "{'type':'list_peers','req_id':'r'}",
  '{"type":"list_peers","req_id":"r",}',
  '{"type":"list_peers"/*c*/,"req_id":"r"}',
  '{type:"list_peers"}',
  '{"type":"list_peers" "req_id":"r"}',
  '{"type":"list_peers","req_id":"r"}}',
  '{"type":"list_peers","req_id":"r"}{}',
  '{"type":"list_peers","req_id":"\\x41"}',
  '{"type":"list_peers","req_id":"\\ud800"}',
  '{"type":"list_peers","req_id":"\u0001"}',
  '{"a":1,"a":2',
  '{"type":"send","type":"list_peers","req_id":"dup"}',
  '{"type":"list_peers","req_id":"r","req_id":5}',
  '{"__proto__":{"type":"list_peers","req_id":"p"}}',
  '{"type":"list_peers","__proto__":{"req_id":"p"}}',
  '{"constructor":{"prototype":{"type":"send"}}}',
  '',
  ' ',
  '\n',
  'null',
  'true',
  '0',
  '"type"',
  '[]',
  '[{"type":"list_peers","req_id":"r"}]',
  '{}',
  '{"type":null}',
  '{"type":["send"]}',
  '{"type":{"0":"s"}}',
  '{"type":1}',
  '{"type":"send"}',
  '{"type":"hello"}',
  '{"type":"message_status","req_id":"both","message_ids":["1"],"client_ids":["abcdefgh"]}',
  '{"type":"message_status","req_id":"neither"}',
];

export function junkCase(): fc.Arbitrary<FrameCase> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...SYNTAX_JUNK).map((t) => text('junk/syntax', wireText(t))) },
    {
      weight: 3,
      arbitrary: jsonJunk()
        .filter((v) => typeof v !== 'object' || v === null || Array.isArray(v))
        .map((v) => text('junk/json-non-object', wireText(JSON.stringify(v)), 'E_BAD_FRAME')),
    },
    {
      weight: 3,
      arbitrary: fc
        .dictionary(fc.oneof(fc.constantFrom('type', 'req_id', 'id', '__proto__'), fc.string({ maxLength: 8 })), fc.oneof(jsonJunk(), fc.constantFrom(...CLIENT_FRAME_TYPES)), {
          maxKeys: 6,
        })
        .map((o) => text('junk/object', wireText(JSON.stringify(o)))),
    },
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((t) => text('junk/text', wireText(t))) },
    { weight: 3, arbitrary: fc.uint8Array({ maxLength: 600 }).map((bytes): FrameCase => ({ label: 'junk/bytes', data: bytes, binary: true })) },
    {
      weight: 2,
      arbitrary: fc.tuple(depthArb(40_000), fc.constantFrom<'array' | 'object'>('array', 'object')).map(([depth, kind]) => {
        const t = nestedText(depth, kind);
        const expect: Expected = utf8Length(t) > LIMITS.maxFrameBytes ? 'E_TOO_LARGE' : kind === 'array' ? 'E_BAD_FRAME' : 'E_SCHEMA';
        return text(`junk/deep-${kind}`, t, expect);
      }),
    },
  );
}

// ---------------------------------------------------------------------------------------------

function sizeCheck(c: FrameCase): FrameCase {
  return utf8Length(c.data) > LIMITS.maxFrameBytes && c.expect !== undefined ? { ...c, expect: 'E_TOO_LARGE' } : c;
}

/** Sends a text case as a binary frame holding the same UTF-8 (§1: the broker accepts both). */
export function asBinary(c: FrameCase): FrameCase {
  return typeof c.data === 'string' ? { ...c, label: `${c.label}+binary`, data: new Uint8Array(Buffer.from(c.data, 'utf8')), binary: true } : c;
}

export interface CaseMix {
  valid: number;
  mutated: number;
  junk: number;
  /** Weight of frames at or above the 256 KiB limit (see sizeCase); 0 disables them. */
  oversize: number;
}

export const DEFAULT_MIX: CaseMix = { valid: 150, mutated: 275, junk: 75, oversize: 1 };

/** The stream the fuzzer sends: valid frames, mutations and junk, about one in ten as binary frames. */
export function frameCase(ctx: FrameContext, mix: CaseMix = DEFAULT_MIX): fc.Arbitrary<FrameCase> {
  const options: Array<fc.WeightedArbitrary<FrameCase>> = [
    { weight: mix.valid, arbitrary: validCase(ctx) },
    { weight: mix.mutated, arbitrary: mutatedFrame(ctx) },
    { weight: mix.junk, arbitrary: junkCase() },
  ];
  if (mix.oversize > 0) options.push({ weight: mix.oversize, arbitrary: sizeCase(ctx) });
  return fc.tuple(fc.oneof(...options), fc.integer({ min: 0, max: 9 })).map(([c, r]) => (r === 0 ? asBinary(c) : c));
}
