import { signal } from '@preact/signals';
import type { Api } from '../api.js';
import { newClientId } from '../ids.js';
import type { TopicMessage } from '../types.js';

/** A message posted but not yet acknowledged (201), or one whose post failed. */
export interface Pending {
  client_id: string;
  topic: string;
  text: string;
  reply_to: string | null;
  state: 'sending' | 'failed';
  error: string | null;
}

/**
 * Posts with a client_id kept across retries, so a retry after a lost answer returns the stored
 * message (`duplicate: true`) instead of posting twice.
 */
export class Outbox {
  readonly pending = signal<Pending[]>([]);

  constructor(
    private readonly api: Api,
    private readonly delivered: (m: TopicMessage) => void,
    /** Seals and posts a message of an e2e topic; null for a plaintext one. */
    private readonly sealed: (p: Pending) => Promise<TopicMessage> | null = () => null,
  ) {}

  send(topic: string, text: string, replyTo: string | null = null): Promise<void> {
    const p: Pending = { client_id: newClientId(), topic, text, reply_to: replyTo, state: 'sending', error: null };
    this.pending.value = [...this.pending.value, p];
    return this.post(p);
  }

  retry(clientId: string): Promise<void> {
    const p = this.pending.value.find((x) => x.client_id === clientId);
    if (!p || p.state === 'sending') return Promise.resolve();
    this.update(clientId, { state: 'sending', error: null });
    return this.post(p);
  }

  discard(clientId: string): void {
    this.pending.value = this.pending.value.filter((x) => x.client_id !== clientId);
  }

  private async post(p: Pending): Promise<void> {
    try {
      const message = (await this.sealed(p)) ?? (await this.api.post(p.topic, { text: p.text, client_id: p.client_id, ...(p.reply_to ? { reply_to: p.reply_to } : {}) })).message;
      this.delivered(message);
      this.discard(p.client_id);
    } catch (error) {
      this.update(p.client_id, { state: 'failed', error: (error as Error).message });
    }
  }

  private update(clientId: string, patch: Partial<Pending>): void {
    this.pending.value = this.pending.value.map((x) => (x.client_id === clientId ? { ...x, ...patch } : x));
  }
}
