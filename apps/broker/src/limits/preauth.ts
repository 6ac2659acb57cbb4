import { Inject, Injectable } from '@nestjs/common';
import { BROKER_CONFIG, type BrokerConfig } from '../config/broker.config.js';

/** How long a client refused for too many pending connections from its address should wait. */
export const PREAUTH_RETRY_AFTER_MS = 1_000;

/** Connections per IP address that have not completed hello (docs/protocol.md §1.2). */
@Injectable()
export class PreAuthTracker {
  private readonly byIp = new Map<string, number>();
  private readonly perIp: number;

  constructor(@Inject(BROKER_CONFIG) config: BrokerConfig) {
    this.perIp = config.limits.preauthPerIp;
  }

  /** Takes one of the address's pre-hello slots; false when it has none left. */
  open(ip: string): boolean {
    const n = this.byIp.get(ip) ?? 0;
    if (n >= this.perIp) return false;
    this.byIp.set(ip, n + 1);
    return true;
  }

  /** Gives the slot back (hello completed, or the connection ended before it). */
  release(ip: string): void {
    const n = (this.byIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.byIp.delete(ip);
    else this.byIp.set(ip, n);
  }
}

/** What one connection has sent before its hello completed. */
export class PreAuthBudget {
  private frames = 0;
  private bytes = 0;

  constructor(private readonly limits: { preauthFrames: number; preauthBytes: number }) {}

  /** Counts a frame; a reason when the connection is past its pre-hello allowance. */
  exceeded(frameBytes: number): string | null {
    this.frames += 1;
    this.bytes += frameBytes;
    if (this.frames > this.limits.preauthFrames) return `more than ${this.limits.preauthFrames} frames before hello`;
    if (this.bytes > this.limits.preauthBytes) return `more than ${this.limits.preauthBytes} bytes before hello`;
    return null;
  }
}
