import { ERROR_CODES, type ErrorCode } from '@claudemesh/core';
import type { Server } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { HttpLimits } from '../config/rest-limits.config.js';
import { addressKey } from './client-address.js';

/** A refused socket that does not read its answer is destroyed after this long. */
const REFUSAL_GRACE_MS = 1_000;

export interface ConnectionCounts {
  total: number;
  byAddress: ReadonlyMap<string, number>;
}

/**
 * Caps the sockets the server holds — in total and per client address — so no one can take every
 * file descriptor. A connection over a cap gets a one-line JSON answer (`E_UNAVAILABLE` 503 for the
 * total, `E_RATE_LIMITED` 429 per address) and is closed before any of its bytes are parsed.
 * WebSockets and SSE streams count: they are connections of the same server.
 */
export function guardConnections(
  server: Server,
  limits: Pick<HttpLimits, 'maxConnections' | 'maxConnectionsPerIp'>,
  /** Told each refusal's code (metrics). */
  onRefuse: (code: 'E_UNAVAILABLE' | 'E_RATE_LIMITED') => void = () => undefined,
): ConnectionCounts {
  const byAddress = new Map<string, number>();
  const counts = { total: 0, byAddress };
  const admit = (socket: Socket): boolean => {
    const key = addressKey(socket.remoteAddress);
    const mine = byAddress.get(key) ?? 0;
    if (limits.maxConnections > 0 && counts.total >= limits.maxConnections) {
      refuse(socket, 'E_UNAVAILABLE', `this broker holds its maximum of ${limits.maxConnections} connections; retry later`);
      onRefuse('E_UNAVAILABLE');
      return false;
    }
    if (limits.maxConnectionsPerIp > 0 && mine >= limits.maxConnectionsPerIp) {
      refuse(socket, 'E_RATE_LIMITED', `your address holds ${limits.maxConnectionsPerIp} connections to this broker, its maximum; close some`);
      onRefuse('E_RATE_LIMITED');
      return false;
    }
    counts.total += 1;
    byAddress.set(key, mine + 1);
    socket.once('close', () => {
      counts.total -= 1;
      const left = (byAddress.get(key) ?? 1) - 1;
      if (left > 0) byAddress.set(key, left);
      else byAddress.delete(key);
    });
    return true;
  };
  // A refused socket must never reach the HTTP server's own 'connection' listener, which would
  // start parsing it straight from the handle: the admission check sits in front of the event.
  const emit = server.emit.bind(server) as (event: string | symbol, ...args: unknown[]) => boolean;
  server.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    if (event === 'connection' && !admit(args[0] as Socket)) return true;
    return emit(event, ...args);
  }) as Server['emit'];
  return counts;
}

function refuse(socket: Socket, code: ErrorCode, message: string): void {
  socket.on('error', () => undefined);
  const body = JSON.stringify({ error: { code, message } });
  const status = ERROR_CODES[code].http;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
  );
  setTimeout(() => socket.destroy(), REFUSAL_GRACE_MS).unref();
}
