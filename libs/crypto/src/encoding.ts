import { CryptoError } from './errors.js';

// Node's native codecs do the work where Buffer exists (they dominated a sending peer's profile
// in pure TypeScript); the portable paths below serve other runtimes. Both are strict and equal.
const NativeBuffer = (globalThis as { Buffer?: typeof Buffer }).Buffer;
const B64U_RE = /^[A-Za-z0-9_-]*$/;

const HEX = '0123456789abcdef';
const B64U = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64U_INDEX = new Map<string, number>([...B64U].map((c, i) => [c, i]));

const HEX_RE = /^(?:[0-9a-f]{2})*$/;
const PUBLIC_KEY_HEX_RE = /^[0-9a-f]{64}$/;
const LONE_SURROGATE_RE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Lowercase hex. */
export function toHex(bytes: Uint8Array): string {
  if (NativeBuffer) return NativeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
  let out = '';
  for (const b of bytes) out += HEX[b >> 4]! + HEX[b & 15]!;
  return out;
}

/** Accepts lowercase hex only, so every value has exactly one wire spelling. */
export function fromHex(hex: string): Uint8Array {
  if (typeof hex !== 'string' || !HEX_RE.test(hex)) {
    throw new CryptoError('E_ENCODING', 'expected lowercase hex with an even number of digits');
  }
  if (NativeBuffer) return new Uint8Array(NativeBuffer.from(hex, 'hex'));
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** base64url without padding (RFC 4648 §5). */
export function toB64u(bytes: Uint8Array): string {
  if (NativeBuffer) return NativeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += B64U[n >> 18]! + B64U[(n >> 12) & 63]! + B64U[(n >> 6) & 63]! + B64U[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += B64U[n >> 18]! + B64U[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += B64U[n >> 18]! + B64U[(n >> 12) & 63]! + B64U[(n >> 6) & 63]!;
  }
  return out;
}

/** Strict: no padding, no whitespace, no standard-alphabet chars, unused trailing bits must be zero. */
export function fromB64u(text: string): Uint8Array {
  if (typeof text !== 'string' || text.length % 4 === 1) {
    throw new CryptoError('E_ENCODING', 'expected unpadded base64url');
  }
  if (NativeBuffer) {
    if (!B64U_RE.test(text)) throw new CryptoError('E_ENCODING', 'expected unpadded base64url');
    const decoded = NativeBuffer.from(text, 'base64url');
    // Re-encoding catches non-zero unused trailing bits, which the native decoder ignores.
    if (decoded.toString('base64url') !== text) throw new CryptoError('E_ENCODING', 'non-canonical base64url');
    return new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength);
  }
  const values = new Array<number>(text.length);
  for (let i = 0; i < text.length; i++) {
    const v = B64U_INDEX.get(text[i]!);
    if (v === undefined) throw new CryptoError('E_ENCODING', 'expected unpadded base64url');
    values[i] = v;
  }
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let o = 0;
  let i = 0;
  for (; i + 3 < values.length; i += 4) {
    const n = (values[i]! << 18) | (values[i + 1]! << 12) | (values[i + 2]! << 6) | values[i + 3]!;
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 255;
    out[o++] = n & 255;
  }
  const rest = values.length - i;
  if (rest === 2) {
    if ((values[i + 1]! & 15) !== 0) throw new CryptoError('E_ENCODING', 'non-canonical base64url');
    out[o++] = (values[i]! << 2) | (values[i + 1]! >> 4);
  } else if (rest === 3) {
    if ((values[i + 2]! & 3) !== 0) throw new CryptoError('E_ENCODING', 'non-canonical base64url');
    out[o++] = (values[i]! << 2) | (values[i + 1]! >> 4);
    out[o++] = ((values[i + 1]! & 15) << 4) | (values[i + 2]! >> 2);
  }
  return out;
}

/** True for a 64-char lowercase hex string (the wire form of an ed25519 public key). */
export function isPublicKeyHex(value: unknown): value is string {
  return typeof value === 'string' && PUBLIC_KEY_HEX_RE.test(value);
}

/** True when the string has no unpaired UTF-16 surrogate, i.e. it has exactly one UTF-8 encoding. */
export function isWellFormedString(value: string): boolean {
  return !LONE_SURROGATE_RE.test(value);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF-8; refuses lone surrogates, which TextEncoder would silently turn into U+FFFD. */
export function utf8Encode(text: string): Uint8Array {
  if (!isWellFormedString(text)) throw new CryptoError('E_ENCODING', 'string contains a lone UTF-16 surrogate');
  return encoder.encode(text);
}

/** Fatal UTF-8 decoding: malformed bytes throw instead of becoming U+FFFD. */
export function utf8Decode(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new CryptoError('E_ENCODING', 'invalid UTF-8');
  }
}

/** Strings are UTF-8 encoded; byte arrays pass through. */
export function toBytes(data: string | Uint8Array): Uint8Array {
  if (typeof data === 'string') return utf8Encode(data);
  if (data instanceof Uint8Array) return data;
  throw new CryptoError('E_ENCODING', 'expected a string or a Uint8Array');
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
