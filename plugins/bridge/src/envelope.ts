import { decodeBody, type Forwarded } from '@claudemesh/core/body';
import { sha256, toB64u } from '@claudemesh/crypto';

/** Hops a message from an older bridge declared with a `__cmh<n>:` text prefix. */
const LEGACY_PREFIX = /^__cmh(\d{1,2}):/;

/** The client id a forward is posted under: the same for the same source message and destination, whatever the restarts. */
export function forwardId(sourceMesh: string, topic: string, messageId: string, destMesh: string, destTopic: string): string {
  return `br${toB64u(sha256(`${sourceMesh}\n${topic}\n${messageId}\n${destMesh}\n${destTopic}`)).slice(0, 40)}`;
}

/** What a received text says about hops: the envelope's, the legacy prefix's, or none (an original). */
export function hopsOf(text: string): { text: string; forwarded: Forwarded | null; legacyHops: number } {
  const body = decodeBody(text);
  if (body.forwarded) return { text: body.text, forwarded: body.forwarded, legacyHops: 0 };
  const legacy = LEGACY_PREFIX.exec(text);
  if (legacy) return { text: text.slice(legacy[0].length), forwarded: null, legacyHops: Number(legacy[1]) };
  return { text: body.text, forwarded: null, legacyHops: 0 };
}
