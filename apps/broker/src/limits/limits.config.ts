import { z } from 'zod';

const MiB = 1024 * 1024;

/**
 * Resource limits of the WebSocket edge and the send path, with their defaults (docs/protocol.md
 * §1.2). The defaults leave real traffic untouched (the seed-load benchmark runs at full speed);
 * they bound what one connection, member or address can make the broker hold or do.
 */
export const LIMIT_DEFAULTS = Object.freeze({
  /** Unsent bytes one connection may have buffered in the broker before it is a slow consumer. */
  outboundBytes: 8 * MiB,
  /** A slow consumer's socket is destroyed this long after its close frame was queued. */
  slowConsumerGraceMs: 1_000,
  /** Frames of one connection being handled at once; beyond it the broker stops reading the socket. */
  maxInFlight: 64,
  /** A `hello` must arrive within this long of the connection opening. */
  helloTimeoutMs: 10_000,
  /** Connections from one IP address that have not completed hello. */
  preauthPerIp: 128,
  /** Frames accepted on a connection before its hello completes. */
  preauthFrames: 16,
  /** Bytes accepted on a connection before its hello completes. */
  preauthBytes: 64 * 1024,
  /** Token-bucket refill rates; each bucket holds two seconds' worth (RATE_BURST_SECONDS). */
  connFramesPerS: 1_000,
  connBytesPerS: 16 * MiB,
  connCostlyPerS: 50,
  memberFramesPerS: 2_000,
  memberBytesPerS: 32 * MiB,
  memberCostlyPerS: 100,
  /** Ciphertext bytes one group commit of sends may carry (besides its 2 000-message cap). */
  sendBatchBytes: 8 * MiB,
  /** Messages and ciphertext bytes waiting (`queued`) for one recipient member. */
  queueMaxMessages: 50_000,
  queueMaxBytes: 256 * MiB,
});

/** A token bucket holds this many seconds of its rate, so short bursts pass untouched. */
export const RATE_BURST_SECONDS = 2;

const count = (max: number) => z.coerce.number().int().min(0).max(max);

/** The limits' part of the broker's env schema (apps/broker/src/config/broker.config.ts); 0 turns a rate off. */
export const LIMITS_ENV = {
  CLAUDEMESH_WS_OUTBOUND_BYTES: count(2 ** 31).min(64 * 1024).default(LIMIT_DEFAULTS.outboundBytes),
  CLAUDEMESH_WS_SLOW_CONSUMER_GRACE_MS: count(60_000).default(LIMIT_DEFAULTS.slowConsumerGraceMs),
  CLAUDEMESH_WS_MAX_IN_FLIGHT: count(100_000).min(1).default(LIMIT_DEFAULTS.maxInFlight),
  CLAUDEMESH_WS_HELLO_TIMEOUT_MS: count(600_000).min(100).default(LIMIT_DEFAULTS.helloTimeoutMs),
  CLAUDEMESH_WS_PREAUTH_PER_IP: count(1_000_000).min(1).default(LIMIT_DEFAULTS.preauthPerIp),
  CLAUDEMESH_WS_PREAUTH_FRAMES: count(10_000_000).min(1).default(LIMIT_DEFAULTS.preauthFrames),
  CLAUDEMESH_WS_PREAUTH_BYTES: count(2 ** 31).min(4096).default(LIMIT_DEFAULTS.preauthBytes),
  CLAUDEMESH_WS_CONN_FRAMES_PER_S: count(10_000_000).default(LIMIT_DEFAULTS.connFramesPerS),
  CLAUDEMESH_WS_CONN_BYTES_PER_S: count(2 ** 40).default(LIMIT_DEFAULTS.connBytesPerS),
  CLAUDEMESH_WS_CONN_COSTLY_PER_S: count(10_000_000).default(LIMIT_DEFAULTS.connCostlyPerS),
  CLAUDEMESH_WS_MEMBER_FRAMES_PER_S: count(10_000_000).default(LIMIT_DEFAULTS.memberFramesPerS),
  CLAUDEMESH_WS_MEMBER_BYTES_PER_S: count(2 ** 40).default(LIMIT_DEFAULTS.memberBytesPerS),
  CLAUDEMESH_WS_MEMBER_COSTLY_PER_S: count(10_000_000).default(LIMIT_DEFAULTS.memberCostlyPerS),
  CLAUDEMESH_SEND_BATCH_BYTES: count(2 ** 31).min(1).default(LIMIT_DEFAULTS.sendBatchBytes),
  CLAUDEMESH_QUEUE_MAX_MESSAGES: count(1_000_000_000).min(1).default(LIMIT_DEFAULTS.queueMaxMessages),
  CLAUDEMESH_QUEUE_MAX_BYTES: count(2 ** 50).min(1).default(LIMIT_DEFAULTS.queueMaxBytes),
};

type LimitsEnv = z.output<z.ZodObject<typeof LIMITS_ENV>>;

export type LimitSettings = { -readonly [K in keyof typeof LIMIT_DEFAULTS]: number };

export function limitSettingsOf(e: LimitsEnv): LimitSettings {
  return {
    outboundBytes: e.CLAUDEMESH_WS_OUTBOUND_BYTES,
    slowConsumerGraceMs: e.CLAUDEMESH_WS_SLOW_CONSUMER_GRACE_MS,
    maxInFlight: e.CLAUDEMESH_WS_MAX_IN_FLIGHT,
    helloTimeoutMs: e.CLAUDEMESH_WS_HELLO_TIMEOUT_MS,
    preauthPerIp: e.CLAUDEMESH_WS_PREAUTH_PER_IP,
    preauthFrames: e.CLAUDEMESH_WS_PREAUTH_FRAMES,
    preauthBytes: e.CLAUDEMESH_WS_PREAUTH_BYTES,
    connFramesPerS: e.CLAUDEMESH_WS_CONN_FRAMES_PER_S,
    connBytesPerS: e.CLAUDEMESH_WS_CONN_BYTES_PER_S,
    connCostlyPerS: e.CLAUDEMESH_WS_CONN_COSTLY_PER_S,
    memberFramesPerS: e.CLAUDEMESH_WS_MEMBER_FRAMES_PER_S,
    memberBytesPerS: e.CLAUDEMESH_WS_MEMBER_BYTES_PER_S,
    memberCostlyPerS: e.CLAUDEMESH_WS_MEMBER_COSTLY_PER_S,
    sendBatchBytes: e.CLAUDEMESH_SEND_BATCH_BYTES,
    queueMaxMessages: e.CLAUDEMESH_QUEUE_MAX_MESSAGES,
    queueMaxBytes: e.CLAUDEMESH_QUEUE_MAX_BYTES,
  };
}
