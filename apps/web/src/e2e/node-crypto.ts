/**
 * What the shared TypeScript libraries take from `node:crypto`, from the browser's WebCrypto: the
 * web build aliases `node:crypto` to this file (build.mjs), so libs/crypto and libs/core run
 * unchanged in the page.
 */
export function randomUUID(): string {
  return crypto.randomUUID();
}

/** getRandomValues fills at most 65,536 bytes per call. */
export function randomFillSync<T extends ArrayBufferView>(buffer: T): T {
  const bytes = new Uint8Array(buffer.buffer as ArrayBuffer, buffer.byteOffset, buffer.byteLength);
  for (let at = 0; at < bytes.length; at += 65_536) crypto.getRandomValues(bytes.subarray(at, Math.min(bytes.length, at + 65_536)));
  return buffer;
}
