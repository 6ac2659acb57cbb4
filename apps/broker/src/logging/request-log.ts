import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { BrokerLogger } from './broker-logger.js';
import { logContext, type LogContext } from './log-context.js';
import { scrubSecrets } from './redact.js';

export const REQUEST_ID_HEADER = 'x-request-id';

/** An incoming X-Request-Id is kept when it is a plain token; anything else gets a fresh id. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Fastify's `genReqId`: the client's X-Request-Id when sane, else 12 random hex characters. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers[REQUEST_ID_HEADER];
  if (typeof given === 'string' && SANE_REQUEST_ID.test(given)) return given;
  return randomBytes(6).toString('hex');
}

const CONTEXT = Symbol('logContext');
const STARTED = Symbol('started');
type Tracked = FastifyRequest & { [CONTEXT]?: LogContext; [STARTED]?: number };

/**
 * Every REST request: its id in the `X-Request-Id` response header and in every log line written
 * while it is handled (an AsyncLocalStorage entered at onRequest, and again after the body is
 * read, whose events run outside it), and at debug level one access line: method, route pattern
 * (or the path, scrubbed, when no route matched), status, milliseconds. Never the query string,
 * headers or body.
 */
export function addRequestLogging(fastify: FastifyInstance, logger: BrokerLogger): void {
  const enter = (request: FastifyRequest, done: () => void): void => {
    const store = (request as Tracked)[CONTEXT];
    if (store) logContext.run(store, done);
    else done();
  };
  fastify.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    const tracked = request as Tracked;
    tracked[CONTEXT] = { req_id: request.id };
    tracked[STARTED] = performance.now();
    enter(request, done);
  });
  fastify.addHook('preValidation', (request: FastifyRequest, _reply: FastifyReply, done: () => void) => enter(request, done));
  fastify.addHook('preHandler', (request: FastifyRequest, _reply: FastifyReply, done: () => void) => enter(request, done));
  fastify.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    if (logger.isLevelEnabled('debug')) {
      const started = (request as Tracked)[STARTED];
      const ms = started === undefined ? undefined : Math.round((performance.now() - started) * 10) / 10;
      const route = request.routeOptions.url ?? scrubSecrets(request.url.split('?')[0]!.split('#')[0]!.slice(0, 200));
      logger.entry('debug', 'Http', false, { req_id: request.id, method: request.method, route, status: reply.statusCode, ms }, `${request.method} ${route} ${reply.statusCode} ${ms ?? '?'} ms`);
    }
    done();
  });
}
