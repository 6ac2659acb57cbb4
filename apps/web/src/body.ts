import type { TopicMessage } from './types.js';

/**
 * The text at once when there is one (version 1); undefined for a sealed message (version 2, an
 * e2e topic), which the mesh's store opens with this browser's keyring (MeshStore.requestOpen).
 */
export function plainText(message: TopicMessage): string | undefined {
  return message.body_version === 1 ? (message.text ?? '') : undefined;
}

export const SEALED_NOTICE = 'End-to-end encrypted — this browser holds no key for this topic';
