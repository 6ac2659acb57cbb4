import { z } from 'zod';
import { CLIENT_FRAME_SCHEMAS, type ClientFrame, type ClientFrameType } from './client-frames.js';
import type { ErrorCode } from './errors.js';
import { hasDuplicateKeys } from './json-keys.js';
import { LIMITS } from './primitives.js';
import { SERVER_FRAME_SCHEMAS, type ServerFrame, type ServerFrameMap, type ServerFrameType } from './server-frames.js';

export type Decoded<F> = { ok: true; frame: F } | { ok: false; code: ErrorCode; message: string; ref?: string };

function byteLength(raw: string | Uint8Array): number {
  return typeof raw === 'string' ? Buffer.byteLength(raw, 'utf8') : raw.byteLength;
}

/** Binary frames must hold UTF-8 exactly: no replacement characters, and a BOM is kept (so JSON.parse refuses it, as in a text frame). */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Characters are code points (§1.1), as everywhere on the wire. */
function refOf(obj: Record<string, unknown>): string | undefined {
  const ref = obj['req_id'] ?? obj['id'];
  // 64 code points are at most 128 UTF-16 units: longer strings are never counted.
  return typeof ref === 'string' && (ref.length <= 64 || (ref.length <= 128 && [...ref].length <= 64)) ? ref : undefined;
}

function describe(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || '(frame)'}: ${i.message}`)
    .join('; ');
}

function decode<T extends Record<string, z.ZodType>>(raw: string | Uint8Array, schemas: T): Decoded<z.output<T[keyof T]>> {
  if (byteLength(raw) > LIMITS.maxFrameBytes) {
    return { ok: false, code: 'E_TOO_LARGE', message: `frame exceeds ${LIMITS.maxFrameBytes} bytes` };
  }
  let text: string;
  try {
    text = typeof raw === 'string' ? raw : utf8.decode(raw);
  } catch {
    return { ok: false, code: 'E_BAD_FRAME', message: 'frame is not valid UTF-8' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: 'E_BAD_FRAME', message: 'frame is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'E_BAD_FRAME', message: 'frame is not a JSON object' };
  }
  if (hasDuplicateKeys(text, value)) {
    return { ok: false, code: 'E_BAD_FRAME', message: 'frame has a duplicate key' };
  }
  const obj = value as Record<string, unknown>;
  const ref = refOf(obj);
  const type = obj['type'];
  if (typeof type !== 'string') {
    return { ok: false, code: 'E_SCHEMA', message: 'type: expected a string', ...(ref ? { ref } : {}) };
  }
  if (!Object.hasOwn(schemas, type)) {
    return { ok: false, code: 'E_UNKNOWN_TYPE', message: `unknown frame type ${JSON.stringify(type.slice(0, 40))}`, ...(ref ? { ref } : {}) };
  }
  const parsed = (schemas[type] as z.ZodType).safeParse(obj);
  if (!parsed.success) {
    return { ok: false, code: 'E_SCHEMA', message: describe(parsed.error), ...(ref ? { ref } : {}) };
  }
  return { ok: true, frame: parsed.data as z.output<T[keyof T]> };
}

/** Parse a frame received by the broker. Never throws. */
export function decodeClientFrame(raw: string | Uint8Array): Decoded<ClientFrame> {
  return decode(raw, CLIENT_FRAME_SCHEMAS) as Decoded<ClientFrame>;
}

/** Parse a frame received by a client. Never throws. */
export function decodeServerFrame(raw: string | Uint8Array): Decoded<ServerFrame> {
  return decode(raw, SERVER_FRAME_SCHEMAS) as Decoded<ServerFrame>;
}

/** Typed constructor: a server frame's payload cannot drift from its type name. */
export function serverFrame<K extends ServerFrameType>(type: K, body: Omit<ServerFrameMap[K], 'type'>): string {
  return JSON.stringify({ type, ...body });
}

export function isClientFrameType(type: string): type is ClientFrameType {
  return Object.hasOwn(CLIENT_FRAME_SCHEMAS, type);
}
