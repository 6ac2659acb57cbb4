import { setTimeout as sleep } from 'node:timers/promises';
import type { ChatInbound } from '@claudemesh/gateway';
import type { Api } from 'grammy';
import type { SurfaceHealth } from './surface-health.js';
import { grammySignal } from './telegram-api.js';
import { toChatInbound, type UpdateLike } from './telegram-inbound.js';
import type { TelegramOffsetStore } from './telegram-offset.store.js';

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 30_000;

const backoff = (failures: number) => Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(failures, 16));

/**
 * Long polling with an offset that moves past an update only once `deliver` resolved for it, so an
 * update the gateway did not take over is asked for again, never skipped. grammY's bot.start() is
 * not used: its error handler lets the offset move past an update whose handler failed.
 */
export class TelegramPoller {
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    private readonly api: Api,
    private readonly store: TelegramOffsetStore,
    private readonly timeoutSeconds: number,
    private readonly health: SurfaceHealth,
  ) {}

  start(deliver: (m: ChatInbound) => Promise<void>): void {
    this.running = this.run(deliver);
  }

  /** Ends a waiting getUpdates or backoff at once; a delivery in flight is waited for, so its offset is kept. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
    this.health.connected = false;
  }

  private async run(deliver: (m: ChatInbound) => Promise<void>): Promise<void> {
    const signal = this.abort.signal;
    let offset = await this.store.load();
    let failures = 0;
    while (!signal.aborted) {
      let updates: UpdateLike[];
      try {
        updates = await this.api.getUpdates({ ...(offset !== undefined ? { offset } : {}), timeout: this.timeoutSeconds, allowed_updates: ['message'] }, grammySignal(signal));
        this.health.connected = true;
        failures = 0;
      } catch (err) {
        if (signal.aborted) return;
        this.health.connected = false;
        this.health.failed('getUpdates', err);
        await pause(backoff(failures++), signal);
        continue;
      }
      for (const update of updates) {
        if (!(await this.take(update, deliver, signal))) return;
        offset = update.update_id + 1;
        try {
          await this.store.save(offset);
        } catch (err) {
          // Telegram still learns the offset with the next getUpdates; only a restart would see this update again (same dedupeId).
          this.health.failed('saving the polling offset', err);
        }
      }
    }
  }

  /** Hands one update over, retrying until `deliver` resolves; false when stopped before it did. */
  private async take(update: UpdateLike, deliver: (m: ChatInbound) => Promise<void>, signal: AbortSignal): Promise<boolean> {
    this.health.event();
    const inbound = toChatInbound(update);
    if (typeof inbound === 'string') {
      if (inbound === 'malformed message') this.health.log(`telegram: update ${update.update_id} skipped: ${inbound}`);
      return true;
    }
    for (let failures = 0; ; failures++) {
      try {
        await deliver(inbound);
        return true;
      } catch (err) {
        if (signal.aborted) return false;
        this.health.failed(`delivering update ${update.update_id}`, err);
        await pause(backoff(failures), signal);
        if (signal.aborted) return false;
      }
    }
  }
}

async function pause(ms: number, signal: AbortSignal): Promise<void> {
  await sleep(ms, undefined, { signal }).catch(() => undefined);
}
