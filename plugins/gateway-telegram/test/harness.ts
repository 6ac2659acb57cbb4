/**
 * What the Telegram surface specs share: a recording `deliver` that can refuse or hold deliveries,
 * a surface factory that captures every log line, and waits that only detect hangs.
 */
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChatInbound, Surface } from '@claudemesh/gateway';
import { afterEach, beforeAll, expect } from 'vitest';
import { startFakeTelegram, type FakeTelegram } from '../../../test/fakes/telegram.js';
import { createTelegramSurface, TelegramSurfaceConfig } from '../src/telegram-surface.js';

/** Distinctive, so a leak into a log line or an error is found by a plain substring search. */
export const TOKEN = '123456:AAHsecretTOKENvalue-do-not-log_1';
export const WEBHOOK_SECRET = 'whsec-SECRETvalue-do-not-log-42';

/**
 * Hooks for a spec file: what a test registers in `cleanups` is closed in reverse order even when
 * it failed; then no TCP handle may be left open, and no log line may hold a secret.
 */
export function trackResources(): { cleanups: Array<() => Promise<unknown>>; logs: string[]; fake(options?: Parameters<typeof startFakeTelegram>[0]): Promise<FakeTelegram> } {
  const cleanups: Array<() => Promise<unknown>> = [];
  const logs: string[] = [];
  let tcpBefore = 0;
  beforeAll(() => {
    tcpBefore = tcpHandles();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    // Peers see a close a moment later; the deadline only catches a leak.
    await eventually(() => tcpHandles() <= tcpBefore, 'no TCP handle left open after the test', 15_000);
    expect(logs.filter((l) => l.includes(TOKEN) || l.includes(WEBHOOK_SECRET))).toEqual([]);
    logs.length = 0;
  });
  const fake = async (options: Parameters<typeof startFakeTelegram>[0] = {}) => {
    const tg = await startFakeTelegram(options);
    cleanups.push(() => tg.close());
    return tg;
  };
  return { cleanups, logs, fake };
}

/** Polls `ready` until it holds; the deadline only catches a hang (a loaded 2-core machine is slow, never this slow). */
export async function eventually(ready: () => boolean, what: string, deadlineMs = 30_000): Promise<void> {
  for (let waited = 0; !ready(); waited += 10) {
    if (waited > deadlineMs) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Settles with `p`, or fails if `p` is still pending at the deadline (a hang, not a slow machine). */
export async function notHanging<T>(p: Promise<T>, what: string, deadlineMs = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`hung: ${what}`)), deadlineMs)));
  try {
    return await Promise.race([p, hang]);
  } finally {
    clearTimeout(timer);
  }
}

export const tcpHandles = (): number => process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP')).length;

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * The gateway side of `deliver`: records every call (retries included), refuses the first `refuse`
 * calls for a dedupeId, and holds every call while `hold` is set.
 */
export class Inbox {
  /** Every call to deliver, in order. */
  readonly calls: ChatInbound[] = [];
  /** What deliver resolved for (taken over by the gateway). */
  readonly taken: ChatInbound[] = [];
  private readonly refusals = new Map<string, number>();
  private held: { release: () => void; promise: Promise<void> } | undefined;
  /** Called inside deliver, after it was recorded and before it resolves or rejects. */
  onCall: ((m: ChatInbound) => void) | undefined;

  refuse(dedupeId: string, times: number): void {
    this.refusals.set(dedupeId, times);
  }

  hold(): void {
    let release!: () => void;
    const promise = new Promise<void>((r) => (release = r));
    this.held = { release, promise };
  }

  release(): void {
    this.held?.release();
    this.held = undefined;
  }

  readonly deliver = async (m: ChatInbound): Promise<void> => {
    this.calls.push(m);
    this.onCall?.(m);
    if (this.held) await this.held.promise;
    const left = this.refusals.get(m.dedupeId) ?? 0;
    if (left > 0) {
      this.refusals.set(m.dedupeId, left - 1);
      throw new Error(`mesh unreachable (refusing ${m.dedupeId})`);
    }
    this.taken.push(m);
  };
}

export function newStateDir(): string {
  return mkdtempSync(join(tmpdir(), 'tg-surface-'));
}

export interface SurfaceRun {
  surface: Surface;
  stateDir: string;
}

/** Builds a surface from raw config (parsed by the schema, as the host does), logging into `logs`. */
export function makeSurface(raw: Record<string, unknown>, logs: string[], opts: { stateDir?: string; env?: NodeJS.ProcessEnv } = {}): SurfaceRun {
  const stateDir = opts.stateDir ?? newStateDir();
  const config = TelegramSurfaceConfig.parse(raw);
  const surface = createTelegramSurface(config, { log: (line) => logs.push(line), stateDir, ...(opts.env ? { env: opts.env } : {}) });
  return { surface, stateDir };
}
