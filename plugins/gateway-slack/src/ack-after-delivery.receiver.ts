import type { App, Logger, Receiver, ReceiverEvent } from '@slack/bolt';
import { SocketModeClient } from '@slack/socket-mode';

/** What SocketModeClient emits as `slack_event` for every envelope (its EventEmitter is untyped). */
interface SocketEnvelope {
  ack(response?: Record<string, unknown>): Promise<void>;
  envelope_id: string;
  type: string;
  body: Record<string, unknown>;
  retry_num?: number;
  retry_reason?: string;
}

export interface AckAfterDeliveryOptions {
  appToken: string;
  logger: Logger;
  slackApiUrl?: string;
  /** How long stop() waits for envelopes being delivered, so that their acks still reach Slack. */
  drainMs: number;
  /** A delivery failed (the envelope stays unacknowledged) or the socket reported an error. */
  onError(error: unknown, envelopeId?: string): void;
}

/**
 * Socket Mode that acknowledges an envelope only once Bolt has finished with it. Bolt's own
 * SocketModeReceiver cannot: App.processEvent acks an Events API event before its listeners run,
 * so a message whose delivery failed would be gone. Here the ack Bolt calls is only noted; the
 * envelope is acked after processEvent resolves, and not at all when it rejects, so Slack sends
 * it again (retry_attempt 1…3, same event_id).
 */
export class AckAfterDeliveryReceiver implements Receiver {
  private readonly client: SocketModeClient;
  private app: App | undefined;
  private open = false;
  private stopping = false;
  private readonly inflight = new Set<Promise<void>>();

  constructor(private readonly options: AckAfterDeliveryOptions) {
    this.client = new SocketModeClient({
      appToken: options.appToken,
      logger: options.logger,
      clientOptions: options.slackApiUrl !== undefined ? { slackApiUrl: options.slackApiUrl } : {},
    });
    this.client.on('slack_event', (envelope: SocketEnvelope) => {
      // Once stopping, an envelope stays unacknowledged: Slack sends it again, to the next connection.
      if (this.stopping) return;
      const handled = this.onEnvelope(envelope).finally(() => this.inflight.delete(handled));
      this.inflight.add(handled);
    });
    this.client.on('connected', () => (this.open = true));
    // `close` comes first when the socket drops; the client then reconnects on its own.
    for (const state of ['close', 'reconnecting', 'disconnecting', 'disconnected']) this.client.on(state, () => (this.open = false));
    this.client.on('error', (error: unknown) => options.onError(error));
  }

  get connected(): boolean {
    return this.open;
  }

  init(app: App): void {
    this.app = app;
  }

  async start(): Promise<void> {
    this.stopping = false;
    await this.client.start();
  }

  /** Lets deliveries under way finish and ack, then resolves once the socket is closed (Bolt's receiver returns before that). */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.inflight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const drained = Promise.allSettled([...this.inflight]);
      await Promise.race([drained, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.drainMs)))]);
      clearTimeout(timer);
    }
    await this.client.disconnect();
  }

  private async onEnvelope(envelope: SocketEnvelope): Promise<void> {
    const app = this.app;
    if (app === undefined) return;
    let response: Record<string, unknown> | undefined;
    const event: ReceiverEvent = {
      body: envelope.body,
      retryNum: envelope.retry_num,
      retryReason: envelope.retry_reason,
      ack: async (r?: unknown) => {
        if (r !== undefined && r !== null && typeof r === 'object') response = r as Record<string, unknown>;
        else if (typeof r === 'string') response = { text: r };
      },
    };
    try {
      await app.processEvent(event);
    } catch (error) {
      this.options.onError(error, envelope.envelope_id);
      return;
    }
    try {
      await envelope.ack(response);
    } catch (error) {
      // The socket went away since: Slack redelivers, and the gateway drops the duplicate by event_id.
      this.options.onError(error, envelope.envelope_id);
    }
  }
}
