import { Logger } from '@nestjs/common';
import { encodeShortInviteLink, formatEmailInviteCode, formatInviteCode, generateInviteCode, encodeEmailInviteLink } from '@claudemesh/crypto';
import { newWebSignInCode } from '@claudemesh/core';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerLogger, prettyLine, type BrokerLogLevel } from './broker-logger.js';
import { logContext } from './log-context.js';
import { REDACTED, registerSecret, scrubSecrets } from './redact.js';
import { requestIdOf } from './request-log.js';

const apiKey = (): string => `cmk_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;

/** A logger writing into an array of parsed lines. */
function capture(level: BrokerLogLevel): { logger: BrokerLogger; lines: Array<Record<string, unknown>>; raw: string[] } {
  const raw: string[] = [];
  const lines: Array<Record<string, unknown>> = [];
  const write = (s: string): void => {
    raw.push(s);
    lines.push(JSON.parse(s) as Record<string, unknown>);
  };
  return { logger: new BrokerLogger({ level, format: 'json', destination: { write } }), lines, raw };
}

describe('scrubSecrets', () => {
  it('redacts every secret shape the broker deals with', () => {
    const key = apiKey();
    const code = generateInviteCode();
    const signin = newWebSignInCode();
    const cases: Array<[string, string[]]> = [
      [`key ${key} refused`, [key.slice(21), key.slice(21, 33)]],
      [`Authorization: Bearer ${key}`, [key.slice(21)]],
      [`authorization: bearer some-opaque-token-123`, ['some-opaque-token-123']],
      [`Basic dXNlcjpwYXNzd29yZA==`, ['dXNlcjpwYXNzd29yZA']],
      [`claim of ${formatInviteCode(code)} failed`, [formatInviteCode(code)]],
      [`code ${formatInviteCode(code).toLowerCase()}`, [formatInviteCode(code).toLowerCase()]],
      [`email ${formatEmailInviteCode(code)}`, [formatInviteCode(code)]],
      [`GET /i/${code}`, [code]],
      [`open ${encodeShortInviteLink('http://b:1', code)} now`, [formatInviteCode(code)]],
      [`open ${encodeEmailInviteLink('http://b:1', code, 'a'.repeat(64))}`, [formatInviteCode(code)]],
      [`v1 ic://join/eyJrIjoiYWJjIn0`, ['eyJrIjoiYWJjIn0']],
      [`https://b.example/join#eyJrIjoiYWJjIn0`, ['eyJrIjoiYWJjIn0']],
      [`sign in at http://127.0.0.1:7900/#/signin?code=${signin}`, [signin]],
      [`GET /api/v1/x?key=hunter2hunter2&code=abc123`, ['hunter2hunter2', 'abc123']],
      [`{"token":"tok-0123456789","apiKey":"xyz-987"}`, ['tok-0123456789', 'xyz-987']],
      [`connect postgres://claudemesh:s3cr3t-pw@db:5432/claudemesh failed`, ['s3cr3t-pw']],
      [`seed ${randomBytes(32).toString('base64url')}`, []],
      [`lone code ${signin} here`, [signin]],
    ];
    for (const [text, secrets] of cases) {
      const out = scrubSecrets(text);
      expect(out, text).toContain(REDACTED);
      for (const s of secrets) expect(out, text).not.toContain(s);
    }
  });

  it('keeps the public id of an API key and scrubs a scrubbed text to itself', () => {
    const key = apiKey();
    const once = scrubSecrets(`bad key ${key}`);
    expect(once).toBe(`bad key ${key.slice(0, 21)}${REDACTED}`);
    expect(scrubSecrets(once)).toBe(once);
  });

  it('scrubs configured secrets by value', () => {
    const token = `tok${randomBytes(12).toString('hex')}`;
    expect(scrubSecrets(`metrics token ${token}`)).toContain(token);
    registerSecret(token);
    expect(scrubSecrets(`metrics token ${token}`)).toBe(`metrics token ${REDACTED}`);
  });

  it('leaves ordinary text alone: ids, public keys, hashes, topic names, paths, hyphenated words', () => {
    const texts = [
      'handler for topic.posted failed: connection reset',
      'member 3f1c9a2e-8b4d-4c1e-9f0a-1b2c3d4e5f60 joined mesh 7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d',
      `pubkey ${'ab12'.repeat(16)} sha ${'0f'.repeat(32)}`,
      '#general: database unavailable; retrying in 1000 ms',
      'GET /api/v1/meshes/:mesh/topics/:topic/messages 200 3.2 ms',
      'Mapped {/i/:code, GET} route',
      'a read-only-mode-flag that is not a code',
      'ANALYZE topic_messages failed: relation "topic_messages_topic_id_created_at_idx" is locked',
      'Error: boom\n    at Object.<anonymous> (/app/apps/broker/dist/server.js:10:5)',
      'push to subscription 42: the push service answered 410',
    ];
    for (const t of texts) expect(scrubSecrets(t)).toBe(t);
  });
});

describe('BrokerLogger', () => {
  afterEach(() => Logger.overrideLogger(false));

  it('writes one JSON object per line: level, time, context, msg', () => {
    const { logger, lines, raw } = capture('verbose');
    Logger.overrideLogger(logger);
    new Logger('Ctx').log('hello');
    new Logger('Ctx').warn('careful');
    new Logger('Http').error('boom', 'Error: boom\n    at x (y.js:1:1)');
    new Logger('Gateway').error('no stack');
    Logger.error('static', 'Error: s\n    at z (z.js:1:1)');
    expect(raw.every((l) => l.endsWith('\n'))).toBe(true);
    expect(lines.map((l) => [l['level'], l['context'], l['msg']])).toEqual([
      ['info', 'Ctx', 'hello'],
      ['warn', 'Ctx', 'careful'],
      ['error', 'Http', 'boom'],
      ['error', 'Gateway', 'no stack'],
      ['error', undefined, 'static'],
    ]);
    expect(new Date(String(lines[0]!['time'])).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(lines[2]!['stack']).toMatch(/at x/);
    expect(lines[4]!['stack']).toMatch(/at z/);
    expect(Object.keys(lines[0]!).sort()).toEqual(['context', 'level', 'msg', 'time']);
  });

  it('respects the level (Nest names: log is info, verbose is trace) and writes nothing below it', () => {
    const warn = capture('warn');
    Logger.overrideLogger(warn.logger);
    const l = new Logger('X');
    l.verbose('v');
    l.debug('d');
    l.log('i');
    l.warn('w');
    l.error('e');
    expect(warn.lines.map((x) => x['level'])).toEqual(['warn', 'error']);
    expect(warn.logger.isLevelEnabled('log')).toBe(false);
    const all = capture('verbose');
    Logger.overrideLogger(all.logger);
    l.verbose('v');
    l.debug('d');
    l.log('i');
    expect(all.lines.map((x) => x['level'])).toEqual(['trace', 'debug', 'info']);
    const errorOnly = capture('error');
    errorOnly.logger.warn('w', 'X');
    errorOnly.logger.error('e', 'X');
    expect(errorOnly.lines.map((x) => x['msg'])).toEqual(['e']);
  });

  it('scrubs messages and stacks, and censors secret fields', () => {
    const { logger, lines, raw } = capture('debug');
    const key = apiKey();
    const code = formatInviteCode(generateInviteCode());
    logger.warn(`key ${key} and code ${code}`, 'Ctx');
    logger.error('failed', `Error: with ${key}\n    at a (b.js:1:1)`, 'Ctx');
    logger.debug({ msg: 'fields', authorization: `Bearer ${key}`, apiKey: key, invite: code, nested: { token: 'abcdefgh12345', code }, ok: 'kept' }, 'Ctx');
    const text = raw.join('');
    expect(text).not.toContain(key.slice(21, 33));
    expect(text).not.toContain(code);
    expect(text).not.toContain('abcdefgh12345');
    expect(lines[2]!['ok']).toBe('kept');
    expect(lines[2]!['msg']).toBe('fields');
    expect(lines[2]!['apiKey']).toBe(REDACTED);
    expect((lines[2]!['nested'] as Record<string, unknown>)['token']).toBe(REDACTED);
  });

  it('adds the request or connection a line was written for', async () => {
    const { logger, lines } = capture('debug');
    Logger.overrideLogger(logger);
    const l = new Logger('Http');
    await logContext.run({ req_id: 'abc123' }, async () => {
      await new Promise((r) => setTimeout(r, 1));
      l.error('inside');
    });
    l.error('outside');
    logContext.run({ conn_id: 'c0ffee00', member_id: 'm1', mesh_id: 'x1' }, () => l.debug('ws'));
    expect(lines[0]).toMatchObject({ req_id: 'abc123', msg: 'inside' });
    expect(lines[1]).not.toHaveProperty('req_id');
    expect(lines[2]).toMatchObject({ conn_id: 'c0ffee00', member_id: 'm1', mesh_id: 'x1' });
  });

  it('pretty-prints one readable line', () => {
    expect(prettyLine('{"level":"warn","time":"2026-01-02T03:04:05.678Z","context":"Http","msg":"slow","req_id":"r1","ms":3}')).toBe('2026-01-02T03:04:05.678Z WARN  [Http] slow req_id=r1 ms=3\n');
    expect(prettyLine('{"level":"debug","time":"t","req_id":"r2","context":"Http","method":"GET","route":"/healthz","status":200,"ms":1.5,"msg":"GET /healthz 200 1.5 ms"}')).toBe('t DEBUG [Http] GET /healthz 200 1.5 ms req_id=r2\n');
    const line = (level: 'error' | 'log', message: string): Promise<string> => {
      return new Promise((resolve) => {
        const logger = new BrokerLogger({ level: 'log', format: 'json', destination: { write: (s: string) => resolve(prettyLine(s)) } });
        logger[level](message, 'Ctx');
      });
    };
    return line('log', 'hi there').then((l) => expect(l).toMatch(/^\S+Z INFO {2}\[Ctx\] hi there\n$/));
  });
});

describe('request ids', () => {
  const req = (value?: string | string[]): IncomingMessage => ({ headers: value === undefined ? {} : { 'x-request-id': value } }) as unknown as IncomingMessage;

  it('keeps a sane X-Request-Id and replaces anything else', () => {
    expect(requestIdOf(req('abc-123_x.y'))).toBe('abc-123_x.y');
    expect(requestIdOf(req('a'.repeat(64)))).toBe('a'.repeat(64));
    for (const bad of ['a'.repeat(65), 'has space', 'new\nline', '', 'x/y', ['a', 'b']]) {
      const id = requestIdOf(req(bad));
      expect(id).toMatch(/^[0-9a-f]{12}$/);
    }
    expect(requestIdOf(req())).not.toBe(requestIdOf(req()));
  });
});

describe('request logging hooks', () => {
  it('puts the request id on the response and on every line written while handling it, body parsed or not', async () => {
    const { default: fastify } = await import('fastify');
    const { addRequestLogging } = await import('./request-log.js');
    const { logger, lines } = capture('debug');
    Logger.overrideLogger(logger);
    const app = fastify({ genReqId: requestIdOf });
    addRequestLogging(app, logger);
    app.post('/echo/:code', async (req) => {
      await new Promise((r) => setTimeout(r, 2));
      new Logger('Handler').warn(`handled ${(req.body as { n: number }).n}`);
      return { ok: true };
    });
    try {
      const posted = await app.inject({ method: 'POST', url: '/echo/ABCD-EFGH-JKMN-PQRS?key=hunter2hunter2', headers: { 'x-request-id': 'given.id-1', 'content-type': 'application/json' }, payload: JSON.stringify({ n: 7 }) });
      expect(posted.headers['x-request-id']).toBe('given.id-1');
      const fresh = await app.inject({ method: 'GET', url: '/missing/cmk_0123456789abcdef_' + 'A'.repeat(43), headers: { 'x-request-id': 'bad id' } });
      expect(fresh.headers['x-request-id']).toMatch(/^[0-9a-f]{12}$/);
      expect(lines).toContainEqual(expect.objectContaining({ context: 'Handler', msg: 'handled 7', req_id: 'given.id-1' }));
      expect(lines).toContainEqual(expect.objectContaining({ context: 'Http', req_id: 'given.id-1', method: 'POST', route: '/echo/:code', status: 200 }));
      expect(lines).toContainEqual(expect.objectContaining({ context: 'Http', req_id: fresh.headers['x-request-id'], status: 404, route: `/missing/cmk_0123456789abcdef_${REDACTED}` }));
      const text = JSON.stringify(lines);
      expect(text).not.toContain('hunter2');
      expect(text).not.toContain('ABCD-EFGH');
      expect(text).not.toContain('AAAAAAAAAAAA');
    } finally {
      await app.close();
    }
  });
});
