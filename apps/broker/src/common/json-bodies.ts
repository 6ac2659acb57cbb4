import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES } from '@claudemesh/core';

/** What the JSON body parser takes (parameters such as charset allowed). */
const JSON_REQUEST = /^application\/json\s*(?:;|$)/i;
/** Answers in JSON, including `+json` types. */
const JSON_ANSWER = /^application\/(?:[\w.+-]+\+)?json\b/i;

/**
 * Request bodies are JSON and say so (protocol §8: "send a body with Content-Type:
 * application/json, or send neither"). Without this, `curl -d` (form encoding) or a body with no
 * content type reaches the schema as something else and fails with an unreadable message. JSON is
 * not guessed from other types: a browser form can send those to any site. Signed requests hash
 * the raw body, which this leaves alone.
 */
export function requireJsonBodies(app: FastifyInstance): void {
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    // An unknown route stays a 404 whatever it was sent.
    if (req.is404) return;
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    const type = req.headers['content-type'];
    if (!hasBody || (type !== undefined && JSON_REQUEST.test(type))) return;
    const got = type ? `content-type: ${type.split(';')[0]!.trim().slice(0, 100)}` : 'no content-type';
    const message = `send content-type: application/json with a JSON body (this request had ${got}; with curl add -H 'content-type: application/json')`;
    await reply.status(ERROR_CODES.E_SCHEMA.http).send({ error: { code: 'E_SCHEMA', message } });
  });
}

/**
 * Every JSON answer ends with a newline, so `curl` leaves the prompt on its own line. Only
 * non-empty JSON payloads are touched (an empty body stays empty); SSE writes to the socket
 * directly and never passes here; request bodies and their hashes are not affected.
 */
export function newlineAfterJson(app: FastifyInstance): void {
  app.addHook('onSend', async (_req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (typeof payload !== 'string' || payload.length === 0 || payload.endsWith('\n')) return payload;
    return JSON_ANSWER.test(String(reply.getHeader('content-type') ?? '')) ? `${payload}\n` : payload;
  });
}
