import { ArgumentsHost, Catch, HttpException, Logger, type ExceptionFilter } from '@nestjs/common';
import { ERROR_CODES, ProtocolError, type ErrorCode } from '@claudemesh/core';
import type { FastifyReply } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { bearerMeshOf } from '../api/bearer.guard.js';
import { signedMeshOf } from '../api/signed-member.guard.js';
import { BrokerMetrics } from '../metrics/broker-metrics.js';

/**
 * The one place where domain errors become HTTP responses: `{ error: { code, message } }`, plus
 * `retry_after_ms` and a `Retry-After` header (whole seconds, rounded up) when the error says when
 * to retry (E_RATE_LIMITED from a rate limit), and `current_epoch` with E_EPOCH_STALE / E_EPOCH_CONFLICT.
 */
@Catch()
export class ProtocolExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Http');

  constructor(private readonly metrics: BrokerMetrics) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const { code, message } = this.toWire(exception);
    const request = http.getRequest<object | undefined>();
    this.metrics.error(code, request ? (bearerMeshOf(request) ?? signedMeshOf(request)) : undefined);
    const retryAfterMs = retryAfterOf(exception);
    if (retryAfterMs === undefined) {
      // E_EPOCH_CONFLICT / E_EPOCH_STALE say which epoch is current, and whether to rotate (§5.6).
      const details = exception instanceof ProtocolError ? exception.details : {};
      void reply.status(ERROR_CODES[code].http).send({ error: { code, message, ...details } });
      return;
    }
    void reply.header('retry-after', String(Math.ceil(retryAfterMs / 1000)));
    void reply.status(ERROR_CODES[code].http).send({ error: { code, message, retry_after_ms: retryAfterMs } });
  }

  private toWire(exception: unknown): { code: ErrorCode; message: string } {
    if (exception instanceof ProtocolError) return { code: exception.code, message: exception.message };
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      if (status === 404) return { code: 'E_NOT_FOUND', message: 'no such route' };
      if (status === 413) return { code: 'E_TOO_LARGE', message: 'request body too large' };
      if (status === 429) return { code: 'E_RATE_LIMITED', message: exception.message };
      if (status >= 400 && status < 500) return { code: 'E_SCHEMA', message: exception.message };
    }
    const fastifyCode = (exception as { code?: unknown; statusCode?: unknown }).code;
    if (fastifyCode === 'FST_ERR_CTP_BODY_TOO_LARGE') return { code: 'E_TOO_LARGE', message: 'request body too large' };
    if (typeof fastifyCode === 'string' && fastifyCode.startsWith('FST_ERR_CTP')) return { code: 'E_SCHEMA', message: 'request body is not valid JSON' };
    if ((exception as { statusCode?: unknown }).statusCode === 400) return { code: 'E_SCHEMA', message: (exception as Error).message };
    if (isDatabaseUnavailable(exception)) return { code: 'E_UNAVAILABLE', message: 'database unavailable; retry' };
    this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    return { code: 'E_INTERNAL', message: 'internal error' };
  }
}

/** A ProtocolError that carries when to retry (any error class with a `retryAfterMs` number). */
function retryAfterOf(exception: unknown): number | undefined {
  if (!(exception instanceof ProtocolError)) return undefined;
  const ms = (exception as ProtocolError & { retryAfterMs?: unknown }).retryAfterMs;
  return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? Math.ceil(ms) : undefined;
}

/** Connection-level database failures are retryable (E_UNAVAILABLE), unlike constraint errors. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; severity?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  // FATAL means the server ended (or refused) the session: e.g. 55000 "database is not currently
  // accepting connections", 53300 too many connections. Never a statement-level problem.
  if (e?.severity === 'FATAL') return true;
  if (['ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'EPIPE', 'ETIMEDOUT', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001'].includes(code)) return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  return /Connection terminated|connection is closed|Client has encountered a connection error|timeout exceeded when trying to connect|Cannot use a pool after calling end/i.test(message);
}

/**
 * Fastify answers some requests before any route or filter runs: a path whose percent-encoding does
 * not decode (FST_ERR_BAD_URL) or a path parameter over its length limit (FST_ERR_MAX_PARAM_LENGTH).
 * Both are a bad path parameter (§10: E_SCHEMA), in the same `{ error: { code, message } }` body.
 */
export function frameworkErrorReply(error: { code?: string }, _req: unknown, reply: FastifyReply): void {
  const message = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path parameter is too long' : 'the request path is not valid percent-encoded UTF-8';
  void reply.status(ERROR_CODES.E_SCHEMA.http).send({ error: { code: 'E_SCHEMA', message } });
}

/** A request the HTTP parser refuses (bad method, bytes, framing; headers too large) gets the same JSON body. */
export function clientErrorReply(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const code: ErrorCode = error.code === 'HPE_HEADER_OVERFLOW' ? 'E_TOO_LARGE' : 'E_SCHEMA';
  const message = code === 'E_TOO_LARGE' ? 'request headers too large' : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request incomplete' : 'malformed HTTP request';
  const body = `${JSON.stringify({ error: { code, message } })}\n`;
  const status = ERROR_CODES[code].http;
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(error);
}
