import type { SurfaceStatus } from '@claudemesh/gateway';
import { HttpError } from 'grammy';
import { redact } from './secret.js';

/**
 * What status() reports, kept up to date by the receiver (poller or webhook), and the one way the
 * adapter logs: every line and every last_error has the secrets taken out.
 */
export class SurfaceHealth {
  connected = false;
  private lastEventAt: string | null = null;
  private lastError: string | null = null;

  constructor(private readonly mode: 'polling' | 'webhook', private readonly out: (line: string) => void, private readonly secrets: readonly string[]) {}

  log(line: string): void {
    this.out(redact(line, this.secrets));
  }

  event(): void {
    this.lastEventAt = new Date().toISOString();
  }

  /** Records and logs a failure: `what` failed, and why. */
  failed(what: string, err: unknown): void {
    this.lastError = redact(`telegram: ${what} failed: ${describe(err)}`, this.secrets);
    this.out(this.lastError);
  }

  /** A failure that stops start(): recorded as last_error and returned to be thrown (the caller logs it). */
  fatal(what: string, err: unknown, hint = ''): Error {
    this.lastError = redact(`telegram: ${what} failed: ${describe(err)}${hint}`, this.secrets);
    return new Error(this.lastError);
  }

  status(): SurfaceStatus {
    return { connected: this.connected, mode: this.mode, last_event_at: this.lastEventAt, last_error: this.lastError };
  }
}

/** One line for an error: grammY's own message (method, code, Telegram's description), plus the network error's code. */
export function describe(err: unknown): string {
  if (err instanceof HttpError) {
    const code = (err.error as { code?: unknown } | undefined)?.code;
    return typeof code === 'string' ? `${err.message} (${code})` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}
