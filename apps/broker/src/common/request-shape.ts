import { ERROR_CODES, hasDuplicateKeys } from '@claudemesh/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * Request shapes refused before any route runs (docs/protocol.md §8), in the `{ error }` body of
 * every other failure:
 * - a GET or HEAD with a body: the router never reads it, so a signature over its hash could not
 *   verify and a reader of the body would see what the broker ignored;
 * - a JSON body that is not valid UTF-8 (the parser would replace bytes the signature covers) or
 *   repeats a key (JSON.parse keeps the last, other parsers the first).
 */
export function registerRequestShapeChecks(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if ((req.method === 'GET' || req.method === 'HEAD') && carriesBody(req.headers)) {
      return refuse(reply, 'a GET request carries no body: send its parameters in the path and query');
    }
    return undefined;
  });
  fastify.addHook('preValidation', async (req: FastifyRequest, reply: FastifyReply) => {
    const raw = (req as FastifyRequest & { rawBody?: Buffer }).rawBody;
    if (!raw || !isJson(req.headers['content-type'])) return undefined;
    let text: string;
    try {
      text = utf8.decode(raw);
    } catch {
      return refuse(reply, 'request body is not valid UTF-8');
    }
    if (hasDuplicateKeys(text, req.body)) return refuse(reply, 'request body has a duplicate key');
    return undefined;
  });
}

/** The parser strips a leading BOM (RFC 8259 §8.1), so this decoder does too. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

function carriesBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) !== 0);
}

function isJson(contentType: string | undefined): boolean {
  return contentType?.split(';', 1)[0]!.trim().toLowerCase() === 'application/json';
}

function refuse(reply: FastifyReply, message: string): FastifyReply {
  return reply.status(ERROR_CODES.E_SCHEMA.http).send({ error: { code: 'E_SCHEMA', message } });
}
