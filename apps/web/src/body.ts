import type { TopicMessage } from './types.js';

/**
 * The plaintext of a message. Version 1 carries it; version 2 (an e2e topic) is sealed to the
 * topic's key epoch, which this browser does not hold yet: `decrypt` is where a browser keyring
 * will open it. Until then it answers null and the view shows the message as sealed.
 */
export async function decrypt(message: TopicMessage): Promise<string | null> {
  void message;
  return null;
}

/** The text at once when there is one (version 1); undefined when it must go through `decrypt`. */
export function plainText(message: TopicMessage): string | undefined {
  return message.body_version === 1 ? (message.text ?? '') : undefined;
}

export const SEALED_NOTICE = 'End-to-end encrypted — this browser holds no key for this topic yet';
