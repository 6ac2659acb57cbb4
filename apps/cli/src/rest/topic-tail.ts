import { ProtocolError, type StoredMesh } from '@claudemesh/core';
import { catchInterrupt, keyTtlS, mintRestKey, revokeRestKey } from './ephemeral-key.js';
import { restError } from './rest-errors.js';
import { E2eReader, openedJson } from './topic-e2e.js';
import { topicLine } from './topic-format.js';
import { safeText } from '../terminal-text.js';

export interface TailOptions {
  json: boolean;
  /** Replay what came after this id first; default only what arrives from now on. */
  since?: string;
  hints?: Record<string, string>;
}

const say = (line: string): void => void process.stderr.write(`claudemesh: ${safeText(line)}\n`);

/**
 * `topic tail`: follows a topic's SSE stream until SIGINT/SIGTERM, then revokes its key and returns
 * (exit 0). Its key lives `CLAUDEMESH_REST_KEY_TTL_S` like any verb's: before it expires a new one
 * is minted, the stream resumes from the last id seen (Last-Event-ID) and the old key is revoked, so
 * a long tail never holds a long-lived secret and misses nothing across the switch.
 */
export async function tailTopic(mesh: StoredMesh, name: string, opts: TailOptions): Promise<void> {
  const interrupt = catchInterrupt();
  let last = opts.since;
  let first = true;
  /** Consecutive refusals of a fresh key: one is a key that expired early, two is a real refusal. */
  let refused = 0;
  const write = (line: string): void => void process.stdout.write(`${line}\n`);
  // Sealed messages (an e2e topic) are opened over a direct connection, made on the first one.
  const reader = new E2eReader(mesh, { reconnect: true });
  // A closed pipe (… | head) ends the tail as Ctrl-C would: the key is still revoked.
  const closed = (): void => interrupt.stop('stdout closed');
  process.stdout.on('error', closed);
  try {
    while (!interrupt.signal.aborted) {
      const key = await mintRestKey(mesh, { verb: 'topic tail', capabilities: ['read'], topics: [name] }, interrupt.signal);
      // Switch keys at 80% of the lifetime, well before the broker would end the stream.
      const session = AbortSignal.any([interrupt.signal, AbortSignal.timeout(Math.max(5, keyTtlS() * 0.8) * 1000)]);
      try {
        if (first && last === undefined) {
          // Start from the newest message, so the stream's replay covers anything posted meanwhile.
          const page = await key.api.history(name, { limit: 1 });
          last = page.messages.at(-1)?.id;
        }
        const stream = key.api.stream(name, {
          ...(last ? { lastEventId: last } : {}),
          signal: session,
          reconnect: true,
          onOpen: () => {
            refused = 0;
            if (first) say(`following #${name} in "${mesh.mesh_name}"${opts.since ? ` after #${opts.since}` : ''} (Ctrl-C to stop)`);
            first = false;
          },
          onReconnect: (error, ms) => say(`lost the stream of #${name} (${(error as Error).message}); reconnecting in ${(ms / 1000).toFixed(1)} s`),
        });
        for await (const { id, message } of stream) {
          const [opened] = await reader.open([message]);
          write(opts.json ? JSON.stringify(message.body_version === 2 ? openedJson(opened!) : message) : topicLine(opened!, { timeOnly: true }));
          last = id;
        }
      } catch (error) {
        if (interrupt.signal.aborted) break;
        // A key that expired or was revoked under us: mint another once, and resume.
        if (error instanceof ProtocolError && error.code === 'E_UNAUTHORIZED' && refused++ === 0) {
          say(`the stream's key was refused (${error.message}); minting another`);
          continue;
        }
        throw restError(error, mesh, opts.hints);
      } finally {
        await revokeRestKey(mesh, key.id);
      }
    }
  } finally {
    await reader.close();
    interrupt.dispose();
    process.stdout.off('error', closed);
  }
  if (interrupt.received) say(`stopped following #${name} (${interrupt.received}); its temporary key was revoked`);
}
