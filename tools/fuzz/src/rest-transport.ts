/**
 * REST fuzzing, the transport: how a generated case becomes bytes on the wire (path parameters,
 * Authorization headers signed for real or tampered with, framed bodies) and one HTTP exchange,
 * over the agent or on a bare socket.
 */
import http from 'node:http';
import net from 'node:net';
import { LIMITS, formatSignedRequestAuth, nextRequestTs } from '@claudemesh/core';
import { isWellFormedString, requestString, sha256Hex, sign, type Identity } from '@claudemesh/crypto';
import type { Findings } from './findings.js';
import type { RestAnswer } from './oracle.js';
import { routePath, type AuthSpec, type BodySpec, type RestCase, type RouteParams, type Signer } from './rest-model.js';

/** Where requests go, and how long an answer may take. */
export interface HttpTarget {
  baseUrl: string;
  timeoutMs: number;
}

export interface RestEnv {
  baseUrl: string;
  adminToken: string;
  /** The mesh the REST fuzzer owns (separate from the WebSocket lanes' mesh). */
  meshId: string;
  meshName: string;
  owner: Identity;
  /** A plain member of that mesh. */
  member: Identity;
  /** Fresh deterministic identities. */
  identity: (label: string) => Identity;
  findings: Findings;
  timeoutMs: number;
  /** The create body of the REST mesh, to replay it (idempotent create). */
  createBody: Record<string, unknown>;
}

export interface Prepared {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer | null;
}

export const sub = (s: string, env: RestEnv): string => s.replaceAll('{mesh}', env.meshId).replaceAll('{owner}', env.owner.publicKey).replaceAll('{member}', env.member.publicKey);

function bodyBuffer(body: BodySpec): Buffer | null {
  switch (body.kind) {
    case 'none':
      return null;
    case 'text':
      return Buffer.from(body.text, 'utf8');
    case 'bytes':
      return Buffer.from(body.bytes);
    case 'oversize':
      return Buffer.alloc(body.size, 0x20);
  }
}

function signer(env: RestEnv, as: Signer): Identity {
  return as === 'owner' ? env.owner : as === 'member' ? env.member : env.identity('stranger');
}

function authorization(env: RestEnv, auth: AuthSpec, method: string, path: string, body: Buffer | null): string | null {
  switch (auth.kind) {
    case 'none':
      return null;
    case 'bearer':
      return (auth.admin ? auth.value || 'Bearer {admin}' : auth.value).replace('{admin}', env.adminToken);
    case 'header':
      return auth.value.replaceAll('{now}', String(Date.now())).replaceAll('{owner}', env.owner.publicKey);
    case 'signed': {
      const id = signer(env, auth.as);
      const meshId = /^\/api\/v1\/meshes\/([^/?]+)/.exec(path)?.[1] ?? '';
      const t = auth.tamper;
      // A fresh ts per request: the broker refuses a signed request it already received (E_REPLAY).
      const ts = t === 'stale' ? Date.now() - LIMITS.requestSkewMs - 60_000 : t === 'future' ? Date.now() + LIMITS.requestSkewMs + 60_000 : nextRequestTs();
      const raw = body ?? Buffer.alloc(0);
      const signed = requestString({
        method: t === 'method' ? (method === 'GET' ? 'POST' : 'GET') : method,
        path: t === 'path' ? `${path}?tampered` : path,
        meshId: safeDecode(meshId),
        ts,
        bodySha256Hex: sha256Hex(t === 'body' ? Buffer.concat([raw, Buffer.from(' ')]) : new Uint8Array(raw)),
      });
      let sig = sign(signed, id.secretKey);
      if (t === 'sig') sig = sign(`${signed}x`, id.secretKey);
      return formatSignedRequestAuth({ pubkey: t === 'pubkey' ? env.identity('other-key').publicKey : id.publicKey, ts, sig });
    }
  }
}

function safeDecode(s: string): string {
  try {
    const d = decodeURIComponent(s);
    return isWellFormedString(d) && !/[\r\n]/.test(d) ? d : s;
  } catch {
    return s;
  }
}

export function prepare(env: RestEnv, c: RestCase): Prepared {
  const params = Object.fromEntries(Object.entries(c.params ?? {}).map(([k, v]) => [k, sub(v, env)])) as RouteParams;
  const base = c.route ? routePath(c.route, params) : { method: c.method, path: c.path };
  const path = sub(base.path, env) + (c.query ?? '');
  const body = bodyBuffer(c.body);
  // Always framed: Node's client sends a DELETE or OPTIONS body without Content-Length otherwise.
  const headers: Record<string, string> = body ? { 'content-length': String(body.byteLength) } : {};
  if (c.contentType) headers['content-type'] = c.contentType;
  const auth = authorization(env, c.auth, base.method, path, body);
  if (auth !== null) headers['authorization'] = auth;
  return { method: base.method, path, headers, body };
}

/** One HTTP exchange; a socket reused from the pool that the server had closed is retried once on a fresh one. */
export async function exchange(env: HttpTarget, req: Prepared, agent: http.Agent | false): Promise<RestAnswer> {
  const url = new URL(env.baseUrl);
  const attempt = (a: http.Agent | false): Promise<RestAnswer> =>
    new Promise((resolve, reject) => {
      const r = http.request({ host: url.hostname, port: url.port, method: req.method, path: req.path, headers: req.headers, agent: a, timeout: env.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8'), method: req.method }),
        );
        res.on('error', reject);
      });
      r.on('timeout', () => r.destroy(new Error(`no answer within ${env.timeoutMs} ms`)));
      r.on('error', reject);
      if (req.body) r.end(req.body);
      else r.end();
    });
  try {
    return await attempt(agent);
  } catch (error) {
    if (agent === false || !/socket hang up|ECONNRESET|EPIPE/.test((error as Error).message)) throw error;
    return attempt(false);
  }
}

/** A raw request on a bare socket; the answer is parsed just enough to check it. */
export async function rawExchange(env: HttpTarget, raw: string): Promise<RestAnswer> {
  const url = new URL(env.baseUrl);
  const text = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => socket.write(Buffer.from(raw, 'latin1')));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('utf8'));
    }, env.timeoutMs);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      const sofar = Buffer.concat(chunks).toString('utf8');
      const m = /content-length:\s*(\d+)/i.exec(sofar);
      const head = sofar.indexOf('\r\n\r\n');
      if (m && head >= 0 && Buffer.byteLength(sofar.slice(head + 4)) >= Number(m[1])) {
        clearTimeout(timer);
        socket.destroy();
        resolve(sofar);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      if (chunks.length > 0) resolve(Buffer.concat(chunks).toString('utf8'));
      else reject(e);
    });
  });
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
  const head = text.indexOf('\r\n\r\n');
  const contentType = /content-type:\s*([^\r\n]*)/i.exec(text.slice(0, Math.max(0, head)))?.[1] ?? '';
  return { status, contentType, body: head >= 0 ? text.slice(head + 4) : '', method: 'RAW' };
}
