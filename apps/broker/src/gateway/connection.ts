import type WebSocket from 'ws';
import type { InboundGate } from '../limits/inbound-gate.js';
import type { Outbound } from '../limits/outbound.js';
import type { PreAuthBudget } from '../limits/preauth.js';
import type { RateBuckets } from '../limits/rate-limiter.js';
import type { LogContext } from '../logging/log-context.js';
import type { LiveSession } from '../presence/live-session.js';

/** What the WebSocket edge (mesh.gateway.ts) holds per socket, before and after hello. */
export interface Connection {
  ws: WebSocket;
  /** Every write, before and after hello, goes through the outbound budget. */
  out: Outbound;
  /** Every frame read goes through the bound on frames in flight. */
  inbound: InboundGate;
  rates: RateBuckets;
  ip: string;
  /** What it sent before hello; null once hello completed (its pre-hello slot is given back then). */
  preauth: PreAuthBudget | null;
  challenge: string | null;
  session: LiveSession | null;
  helloPending: boolean;
  helloTimer: NodeJS.Timeout;
  /** What this connection's log lines carry: its short id, and after hello its member and mesh. */
  log: LogContext;
  openedAt: number;
}
