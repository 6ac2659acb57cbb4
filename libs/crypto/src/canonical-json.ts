import { CryptoError } from './errors.js';

/**
 * Deterministic JSON: object keys sorted by UTF-16 code units (the default string sort), recursively;
 * no whitespace; scalars exactly as JSON.stringify writes them. Only plain JSON values are accepted,
 * because anything JSON.stringify would drop or coerce (undefined, NaN, Date, …) makes two parties
 * disagree on the signed bytes.
 */
export function canonicalJson(value: unknown): string {
  return encode(value, new Set<object>());
}

function encode(value: unknown, seen: Set<object>): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new CryptoError('E_FIELD_INVALID', 'canonical JSON rejects non-finite numbers');
    return JSON.stringify(value);
  }
  if (typeof value !== 'object') throw new CryptoError('E_FIELD_INVALID', `canonical JSON rejects ${typeof value}`);
  if (seen.has(value)) throw new CryptoError('E_FIELD_INVALID', 'canonical JSON rejects cycles');
  seen.add(value);
  try {
    if (Array.isArray(value)) return `[${value.map((v: unknown) => encode(v, seen)).join(',')}]`;
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new CryptoError('E_FIELD_INVALID', 'canonical JSON accepts plain objects only');
    }
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${encode(record[k], seen)}`).join(',')}}`;
  } finally {
    seen.delete(value);
  }
}
