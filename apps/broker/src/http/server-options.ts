import type { FastifyServerOptions } from 'fastify';
import type { ServerOptions } from 'node:http';
import type { HttpLimits } from '../config/rest-limits.config.js';

/**
 * The Node HTTP server's timeouts, so a client trickling its headers or body a byte at a time
 * cannot hold a socket: headers within `headersTimeoutMs`, the whole request within
 * `requestTimeoutMs` (both answered E_SCHEMA "request incomplete" and closed), no byte either way
 * for `idleTimeoutMs`, `keepAliveTimeoutMs` between requests. A response may take as long as it
 * needs (an SSE stream is one), and an upgraded WebSocket leaves these timeouts behind.
 */
export function fastifyOptionsOf(limits: HttpLimits): Pick<FastifyServerOptions, 'requestTimeout' | 'connectionTimeout' | 'keepAliveTimeout' | 'trustProxy'> & {
  http: ServerOptions;
} {
  return {
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    trustProxy: limits.trustProxy,
    http: {
      headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
      // Node checks both timeouts on this interval (30 s by default): a quarter of the shorter one, at most 1 s.
      connectionsCheckingInterval: Math.max(5, Math.min(1_000, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4))),
    },
  };
}
