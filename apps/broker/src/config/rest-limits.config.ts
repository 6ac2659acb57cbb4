import { z } from 'zod';

/**
 * Limits of the HTTP side (docs/protocol.md §8.4, docs/topics.md): socket timeouts and connection
 * caps, the per-address budget of the routes that need no credentials, SSE streams and search.
 * Each default is a named constant; each has an env override, part of the broker's env schema.
 */

/** The request line and headers must have arrived this long after the connection opened. */
export const HTTP_HEADERS_TIMEOUT_MS = 10_000;
/** The whole request, body included (at most 1 MiB), must have arrived within this. */
export const HTTP_REQUEST_TIMEOUT_MS = 30_000;
/** A socket with no byte either way for this long is closed (SSE streams and WebSockets are exempt). */
export const HTTP_IDLE_TIMEOUT_MS = 120_000;
/** An idle keep-alive connection waits this long for its next request; above the 60 s idle of common proxies. */
export const HTTP_KEEP_ALIVE_TIMEOUT_MS = 65_000;
/** Open connections (HTTP, SSE and WebSocket) on this broker; more are answered 503 and closed. */
export const HTTP_MAX_CONNECTIONS = 10_000;
/** Open connections from one address (IPv4, or IPv6 /64); more are answered 429 and closed. */
export const HTTP_MAX_CONNECTIONS_PER_IP = 512;

/** Requests to a route without credentials that one address may have failed (or in flight) at once. */
export const PUBLIC_ATTEMPTS_BURST = 30;
/** How fast that budget refills, per minute. A request that succeeds gives its attempt back. */
export const PUBLIC_ATTEMPTS_PER_MINUTE = 30;

/** Concurrent SSE streams of one API key, and of one member (all its keys), per broker node. */
export const SSE_MAX_STREAMS_PER_KEY = 8;
export const SSE_MAX_STREAMS_PER_MEMBER = 32;

/** Searches one API key may start: a burst, refilled at a rate per minute. */
export const SEARCH_BURST = 10;
export const SEARCH_PER_MINUTE = 60;
/** A search ranks at most this many matches: the newest ones. */
export const SEARCH_CANDIDATES = 1_000;
/** Postgres cancels a search running longer (the embedded database cannot cancel a statement). */
export const SEARCH_STATEMENT_TIMEOUT_MS = 5_000;
/** Searches running at once on the whole broker (the embedded database is one session: one at a time). */
export const SEARCH_CONCURRENCY = { embedded: 1, postgres: 4 } as const;
/** Searches waiting for a slot; more are refused with E_RATE_LIMITED. */
export const SEARCH_QUEUE = 32;

const ms = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);
const count = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);

export const REST_LIMITS_ENV = {
  CLAUDEMESH_HTTP_HEADERS_TIMEOUT_MS: ms(10, 600_000, HTTP_HEADERS_TIMEOUT_MS),
  CLAUDEMESH_HTTP_REQUEST_TIMEOUT_MS: ms(10, 3_600_000, HTTP_REQUEST_TIMEOUT_MS),
  CLAUDEMESH_HTTP_IDLE_TIMEOUT_MS: ms(10, 3_600_000, HTTP_IDLE_TIMEOUT_MS),
  CLAUDEMESH_HTTP_KEEP_ALIVE_TIMEOUT_MS: ms(10, 3_600_000, HTTP_KEEP_ALIVE_TIMEOUT_MS),
  /** 0: no cap. */
  CLAUDEMESH_HTTP_MAX_CONNECTIONS: count(0, 10_000_000, HTTP_MAX_CONNECTIONS),
  /** 0: no cap (behind a reverse proxy every connection comes from the proxy's address). */
  CLAUDEMESH_HTTP_MAX_CONNECTIONS_PER_IP: count(0, 10_000_000, HTTP_MAX_CONNECTIONS_PER_IP),
  /**
   * Which proxies' X-Forwarded-For to believe for the client address of per-address request limits:
   * `false`, `true` (any peer: only when nothing but the proxy can reach the broker), or
   * comma-separated proxy addresses / CIDRs.
   */
  CLAUDEMESH_TRUST_PROXY: z
    .string()
    .regex(/^(true|false|[0-9a-fA-F.:/]+(\s*,\s*[0-9a-fA-F.:/]+)*)$/, 'expected true, false or comma-separated proxy addresses/CIDRs')
    .default('false'),
  CLAUDEMESH_PUBLIC_ATTEMPTS_BURST: count(1, 1_000_000, PUBLIC_ATTEMPTS_BURST),
  CLAUDEMESH_PUBLIC_ATTEMPTS_PER_MINUTE: count(1, 60_000_000, PUBLIC_ATTEMPTS_PER_MINUTE),
  CLAUDEMESH_SSE_HEARTBEAT_MS: ms(10, 3_600_000, 15_000),
  CLAUDEMESH_SSE_RECHECK_MS: ms(10, 600_000, 5_000),
  CLAUDEMESH_SSE_MAX_BUFFER_BYTES: count(1_024, 1 << 30, 1 << 20),
  CLAUDEMESH_SSE_MAX_STREAMS_PER_KEY: count(1, 100_000, SSE_MAX_STREAMS_PER_KEY),
  CLAUDEMESH_SSE_MAX_STREAMS_PER_MEMBER: count(1, 100_000, SSE_MAX_STREAMS_PER_MEMBER),
  CLAUDEMESH_SEARCH_BURST: count(1, 1_000_000, SEARCH_BURST),
  CLAUDEMESH_SEARCH_PER_MINUTE: count(1, 60_000_000, SEARCH_PER_MINUTE),
  CLAUDEMESH_SEARCH_CANDIDATES: count(1, 1_000_000, SEARCH_CANDIDATES),
  CLAUDEMESH_SEARCH_STATEMENT_TIMEOUT_MS: ms(1, 600_000, SEARCH_STATEMENT_TIMEOUT_MS),
  /** Default: 1 on the embedded database, 4 on Postgres. */
  CLAUDEMESH_SEARCH_CONCURRENCY: z.coerce.number().int().min(1).max(1_000).optional(),
  CLAUDEMESH_SEARCH_QUEUE: count(0, 100_000, SEARCH_QUEUE),
};

type RestLimitsEnv = z.output<z.ZodObject<typeof REST_LIMITS_ENV>>;

export interface HttpLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  trustProxy: boolean | string[];
}

/** A token bucket: `burst` tokens, refilled at `perMinute`. */
export interface RateLimit {
  burst: number;
  perMinute: number;
}

export interface SseLimits {
  heartbeatMs: number;
  recheckMs: number;
  maxBufferBytes: number;
  maxStreamsPerKey: number;
  maxStreamsPerMember: number;
}

export interface SearchLimits {
  perKey: RateLimit;
  candidates: number;
  statementTimeoutMs: number;
  /** Unset: SEARCH_CONCURRENCY for the database in use. */
  concurrency: number | undefined;
  queue: number;
}

export interface RestLimits {
  http: HttpLimits;
  publicAttempts: RateLimit;
  sse: SseLimits;
  search: SearchLimits;
}

function trustProxyOf(value: string): HttpLimits['trustProxy'] {
  if (value === 'true') return true;
  if (value === 'false') return false;
  return value.split(',').map((s) => s.trim());
}

export function restLimitsOf(e: RestLimitsEnv): RestLimits {
  return {
    http: {
      headersTimeoutMs: e.CLAUDEMESH_HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.CLAUDEMESH_HTTP_REQUEST_TIMEOUT_MS,
      idleTimeoutMs: e.CLAUDEMESH_HTTP_IDLE_TIMEOUT_MS,
      keepAliveTimeoutMs: e.CLAUDEMESH_HTTP_KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: e.CLAUDEMESH_HTTP_MAX_CONNECTIONS,
      maxConnectionsPerIp: e.CLAUDEMESH_HTTP_MAX_CONNECTIONS_PER_IP,
      trustProxy: trustProxyOf(e.CLAUDEMESH_TRUST_PROXY),
    },
    publicAttempts: { burst: e.CLAUDEMESH_PUBLIC_ATTEMPTS_BURST, perMinute: e.CLAUDEMESH_PUBLIC_ATTEMPTS_PER_MINUTE },
    sse: {
      heartbeatMs: e.CLAUDEMESH_SSE_HEARTBEAT_MS,
      recheckMs: e.CLAUDEMESH_SSE_RECHECK_MS,
      maxBufferBytes: e.CLAUDEMESH_SSE_MAX_BUFFER_BYTES,
      maxStreamsPerKey: e.CLAUDEMESH_SSE_MAX_STREAMS_PER_KEY,
      maxStreamsPerMember: e.CLAUDEMESH_SSE_MAX_STREAMS_PER_MEMBER,
    },
    search: {
      perKey: { burst: e.CLAUDEMESH_SEARCH_BURST, perMinute: e.CLAUDEMESH_SEARCH_PER_MINUTE },
      candidates: e.CLAUDEMESH_SEARCH_CANDIDATES,
      statementTimeoutMs: e.CLAUDEMESH_SEARCH_STATEMENT_TIMEOUT_MS,
      concurrency: e.CLAUDEMESH_SEARCH_CONCURRENCY,
      queue: e.CLAUDEMESH_SEARCH_QUEUE,
    },
  };
}
