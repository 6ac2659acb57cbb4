/**
 * fast-check arbitraries for client frames (docs/protocol.md §5.2): mutations of the schema-valid
 * frames of valid-frames.ts, and junk. Every generated case carries, where the mutation alone decides
 * it, the code the protocol requires (§3.3): a truncated object is `E_BAD_FRAME`, an unknown `type`
 * is `E_UNKNOWN_TYPE`, a dropped required key, a wrong JSON kind or a repeated capability is
 * `E_SCHEMA`, anything above 256 KiB is `E_TOO_LARGE`… The oracle (oracle.ts) cross-checks that
 * declared code against its own reading of the frame.
 *
 * Pure: no I/O, no clock. Values that depend on the live mesh (member names, keys) come in through
 * `FrameContext`, so a seed always yields the same cases for the same context.
 */
import fc from 'fast-check';
import { LIMITS, SERVER_FRAME_SCHEMAS, type ClientFrameType, type ErrorCode, type ServerFrameType } from '@claudemesh/core';
import { ASCII_ONLY, JSON_KIND, boundaryArb, memo, memoBy, type Boundary, type FieldKind, type JsonKind } from './field-values.js';
import { entriesOf, nestedText, objectText, utf8Length, wireText, type Entry, type JsonValue } from './json-text.js';
import { CLIENT_FRAME_TYPES, anyValidFrame, stripUndefined, validFrame, type FrameContext, type FrameObject } from './valid-frames.js';

export { arb, type FieldKind } from './field-values.js';
export { CLIENT_FRAME_TYPES, anyValidFrame, validFrame, type FrameContext, type FrameObject } from './valid-frames.js';

export const SERVER_FRAME_TYPES = Object.keys(SERVER_FRAME_SCHEMAS) as ServerFrameType[];

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
  // Version 1 (a DM, or @group / * under the mesh key) or version 2 (@group / * under a mesh key
  // epoch, with key_epoch and sig): the generator makes both (valid-frames.ts).
  send: [
    TYPE,
    f('id', 'clientId'),
    f('to', 'target'),
    f('nonce', 'boxNonce'),
    f('ciphertext', 'ciphertext'),
    f('receipts', 'receipts', false),
    f('body_version', 'bodyVersion', false),
    f('key_epoch', 'epochNumber', false),
    f('sig', 'sig', false),
  ],
  delivered: [TYPE, f('message_ids', 'messageIds')],
  read: [TYPE, f('message_ids', 'messageIds')],
  list_peers: [TYPE, f('req_id', 'reqId')],
  set_summary: [TYPE, f('req_id', 'reqId', false), f('summary', 'summary')],
  set_tags: [TYPE, f('req_id', 'reqId', false), f('tags', 'tags')],
  set_status: [TYPE, f('req_id', 'reqId', false), f('status', 'status')],
  join_group: [TYPE, f('req_id', 'reqId', false), f('group', 'group')],
  leave_group: [TYPE, f('req_id', 'reqId', false), f('group', 'group')],
  // Exactly one of message_ids / client_ids: both are "optional", dropping the present one is a violation.
  message_status: [TYPE, f('req_id', 'reqId'), f('message_ids', 'messageIds', false), f('client_ids', 'clientIds', false)],
  set_grants: [TYPE, f('req_id', 'reqId'), f('peer', 'pubkey'), f('capabilities', 'capabilities'), f('blocked', 'blocked')],
  list_grants: [TYPE, f('req_id', 'reqId')],
  state_set: [
    TYPE,
    f('req_id', 'reqId'),
    f('owner', 'pubkey', false),
    f('key', 'stateKey'),
    f('version', 'version'),
    f('nonce', 'boxNonce'),
    f('ciphertext', 'stateCiphertext'),
  ],
  state_get: [TYPE, f('req_id', 'reqId'), f('owner', 'pubkey', false), f('key', 'stateKey', false)],
  // Version 1 (text) or version 2 (the sealed fields): the generator makes both (valid-frames.ts).
  topic_send: [
    TYPE,
    f('id', 'clientId'),
    f('topic', 'topic'),
    f('text', 'topicText', false),
    f('reply_to', 'topicMessageId', false),
    f('body_version', 'bodyVersion', false),
    f('key_epoch', 'epochNumber', false),
    f('nonce', 'boxNonce', false),
    f('ciphertext', 'topicCiphertext', false),
    f('sig', 'sig', false),
    f('mentions', 'mentions', false),
  ],
  // At most one of before / after: valid frames carry one or neither.
  topic_history: [
    TYPE,
    f('req_id', 'reqId'),
    f('topic', 'topic'),
    f('before', 'topicMessageId', false),
    f('after', 'topicCursor', false),
    f('limit', 'historyLimit', false),
  ],
  epoch_publish: [TYPE, f('req_id', 'reqId'), f('manifest', 'signedManifest'), f('seals', 'epochSeals')],
  epoch_get: [TYPE, f('req_id', 'reqId'), f('scope', 'epochScope'), f('after_epoch', 'afterEpoch', false)],
  epoch_seal: [TYPE, f('req_id', 'reqId'), f('scope', 'epochScope'), f('epoch', 'epochNumber'), f('seals', 'epochSeals')],
};

// ---------------------------------------------------------------------------------------------
// Junk values

/** Any JSON value, including unicode strings and deep-ish nesting. */
export const jsonJunk = memo((): fc.Arbitrary<JsonValue> => fc.jsonValue({ maxDepth: 4, stringUnit: 'binary' }) as fc.Arbitrary<JsonValue>);

/** JSON text of a value whose JSON type differs from `kind`. */
const wrongTypeText = memoBy((kind: JsonKind): fc.Arbitrary<string> => {
  const pool: Array<fc.Arbitrary<string>> = [
    fc.constantFrom('null', '{}', '{"":null}'),
    fc.dictionary(fc.string({ maxLength: 5 }), jsonJunk(), { maxKeys: 3 }).map((o) => JSON.stringify(o)),
  ];
  if (kind !== 'boolean') pool.push(fc.constantFrom('true', 'false'));
  // An empty array is the wrong kind for everything but arrays, where it may be valid (capabilities).
  if (kind !== 'array') pool.push(fc.constant('[]'));
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
  'set-grants',
  'setGrants',
  'SET_GRANTS',
  'grant',
  'state_delete',
  'state_list',
  'stateSet',
  'topic-send',
  'topicSend',
  'topic_post',
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
  if (spec.required) return false;
  if (base.type === 'topic_send') {
    // A version-1 topic_send without text is neither version; so is a version-2 one without a
    // sealed field, or without its body_version (it then reads as version 1 carrying sealed fields).
    if (base.frame['body_version'] === 2) return !['body_version', 'key_epoch', 'nonce', 'ciphertext', 'sig'].includes(spec.name);
    return spec.name !== 'text';
  }
  // A version-2 send without key_epoch or sig is invalid; without body_version it reads as version 1
  // carrying them. A version-1 send may drop any optional field.
  if (base.type === 'send' && base.frame['body_version'] === 2) return !['body_version', 'key_epoch', 'sig'].includes(spec.name);
  return true;
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
    .map(({ spec, b }) => text(`${base.type}/boundary:${spec.name}=${b.what}`, objectText(replaceValue(entriesOf(base.frame), spec.name, b.text)), boundaryValid(base, spec, b) ? 'valid' : 'E_SCHEMA'));
};

/**
 * A boundary value the field's schema accepts may still break the frame: a topic_send's or send's
 * body_version must stay its version, and a version-2 send's target must stay `@group` or `*`.
 */
function boundaryValid(base: Base, spec: FieldSpec, b: Boundary): boolean {
  if ((base.type === 'topic_send' || base.type === 'send') && spec.name === 'body_version') return b.valid && b.text === String(base.frame['body_version'] ?? 1);
  if (base.type === 'send' && spec.name === 'to' && base.frame['body_version'] === 2) {
    const to: unknown = JSON.parse(b.text);
    return b.valid && typeof to === 'string' && (to === '*' || to.startsWith('@'));
  }
  return b.valid;
}

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
        // A number where the schema wants no number at all is E_SCHEMA whatever its value.
        bad ? 'E_BAD_FRAME' : JSON_KIND[spec.kind] !== 'number' ? 'E_SCHEMA' : undefined,
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
    // §3.3: a repeated key is refused whichever occurrence a parser would keep.
    const out = before ? [...entries.slice(0, at), dup, ...entries.slice(at)] : [...entries, dup];
    return text(`${base.type}/duplicate-${before ? 'before' : 'after'}:${spec.name}`, objectText(out), 'E_BAD_FRAME');
  });

/**
 * Arrays: a repeated item (capabilities, seals and tags must not repeat; ids may, up to the 500 limit), or
 * an item of the wrong JSON kind (every array holds strings, or seal objects of another form).
 */
const arrayItem: Mutation = (base) => {
  const specs = fieldsPresent(base).filter((spec) => JSON_KIND[spec.kind] === 'array' && (base.frame[spec.name] as unknown[]).length > 0);
  if (specs.length === 0) return wrongType(base);
  return fc
    .tuple(fc.constantFrom(...specs), fc.nat(), fc.nat(), fc.oneof(fc.constant('repeat'), fc.constantFrom('null', '1', 'true', '[]', '{}', '["dm"]')))
    .map(([spec, from, to, how]) => {
      const items = (base.frame[spec.name] as unknown[]).map((item) => JSON.stringify(item));
      const extra = how === 'repeat' ? items[from % items.length]! : how;
      const out = [...items.slice(0, to % (items.length + 1)), extra, ...items.slice(to % (items.length + 1))];
      const unique = spec.kind === 'capabilities' || spec.kind === 'epochSeals' || spec.kind === 'tags';
      const limit = spec.kind === 'tags' ? LIMITS.maxTagsPerSession : LIMITS.maxIdsPerFrame;
      const expect: Expected = how !== 'repeat' || unique || out.length > limit ? 'E_SCHEMA' : 'valid';
      return text(`${base.type}/array-${how === 'repeat' ? 'repeat' : 'junk-item'}:${spec.name}`, objectText(replaceValue(entriesOf(base.frame), spec.name, `[${out.join(',')}]`)), expect);
    });
};

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
  { weight: 2, op: arrayItem },
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
  '{"type":"set_grants","req_id":"g","peer":"0000000000000000000000000000000000000000000000000000000000000000","capabilities":["dm","dm"],"blocked":false}',
  '{"type":"set_grants","req_id":"g","capabilities":[],"blocked":true}',
  '{"type":"list_grants"}',
  '{"type":"state_set","req_id":"s","key":"k","version":0,"nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","ciphertext":"AAAAAAAAAAAAAAAAAAAAAA"}',
  '{"type":"state_set","req_id":"s","key":"k","version":1,"version":2,"nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","ciphertext":"AAAAAAAAAAAAAAAAAAAAAA"}',
  '{"type":"state_get","req_id":"s","key":"/k"}',
  '{"type":"state_get","req_id":"s","owner":null}',
  '{"type":"topic_send","id":"abcdefgh","topic":"#general","text":"x"}',
  '{"type":"topic_send","id":"abcdefgh","topic":"general","text":"a\\u0000b"}',
  '{"type":"topic_history","req_id":"h","topic":"general","before":"2","after":"1"}',
  '{"type":"topic_history","req_id":"h","topic":"general","limit":0}',
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
