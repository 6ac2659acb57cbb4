/** Topic message and notification ids are decimal strings of up to 19 digits: compare as integers. */
export function compareIds(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

const URL_SAFE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** 22 url-safe characters (132 bits): the idempotency key a post keeps across its retries. */
export function newClientId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(22));
  let out = '';
  for (const b of bytes) out += URL_SAFE[b & 63];
  return out;
}
