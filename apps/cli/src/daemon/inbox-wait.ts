/**
 * How long `inbox` waits, at most, for a session to drain the broker's offline queue into the local
 * inbox before it answers from what this machine holds. Free of zod and Nest: the fast path reads it.
 */
export const DEFAULT_INBOX_DRAIN_WAIT_MS = 5_000;

/** CLAUDEMESH_INBOX_WAIT_MS (0–120000 ms), else the default. */
export function inboxDrainWaitMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env['CLAUDEMESH_INBOX_WAIT_MS'];
  const ms = raw === undefined || raw === '' ? NaN : Number(raw);
  return Number.isInteger(ms) && ms >= 0 && ms <= 120_000 ? ms : DEFAULT_INBOX_DRAIN_WAIT_MS;
}
