/**
 * The WhatsApp surface over real HTTP: Meta's side is played by signed POSTs to the adapter's own
 * webhook server and by the local Graph API fake (test/fakes/whatsapp.ts) for sends. No mocks.
 */
import { PermanentSendError, RetryAfter, type ChatInbound } from '@claudemesh/gateway';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  newWamid, signWhatsApp, startFakeWhatsApp, whatsappMediaWebhookBody, whatsappStatusWebhookBody, whatsappVerifyQuery, whatsappWebhookBody,
  type FakeWhatsApp, type FakeWhatsAppOptions,
} from '../../../test/fakes/whatsapp.js';
import { MAX_BODY_BYTES } from '../src/webhook-http.js';
import { createWhatsAppSurface, WhatsAppSurfaceConfig, type WhatsAppSurface } from '../src/whatsapp-surface.js';
import { closeEverythingAfterEach } from '../../../test/helpers/tcp-cleanups.js';

// Distinct values, so a leak into a log line or an error message is found by a plain search.
const TOKEN = 'EAAG-token-q8Zr4vK1';
const APP_SECRET = 'appsecret-Jx93LmPw';
const VERIFY = 'verify-Hb27NcQe';
const SECRETS = [TOKEN, APP_SECRET, VERIFY];
const PHONE_ID = '100000000000001';
const ENV = { WA_TEST_TOKEN: TOKEN, WA_TEST_VERIFY: VERIFY };

const cleanups = closeEverythingAfterEach();

interface Rig {
  wa: FakeWhatsApp;
  surface: WhatsAppSurface;
  delivered: ChatInbound[];
  logs: string[];
  hook: string;
  /** POSTs raw bytes as Meta does, signed with the app secret unless a signature (or null: none) is given. */
  post(raw: string, signature?: string | null): Promise<Response>;
}

async function rig(o: { deliver?: (m: ChatInbound) => Promise<void>; fake?: FakeWhatsAppOptions; config?: Record<string, unknown> } = {}): Promise<Rig> {
  const wa = await startFakeWhatsApp(o.fake);
  cleanups.push(() => wa.close());
  const stateDir = mkdtempSync(join(tmpdir(), 'wa-surface-'));
  cleanups.push(async () => rmSync(stateDir, { recursive: true, force: true }));
  const config = WhatsAppSurfaceConfig.parse({
    access_token_env: 'WA_TEST_TOKEN',
    phone_number_id: PHONE_ID,
    app_secret: APP_SECRET,
    verify_token_env: 'WA_TEST_VERIFY',
    graph_url: new URL(wa.graphBase).origin,
    webhook: { port: 0 },
    ...o.config,
  });
  const logs: string[] = [];
  const surface = createWhatsAppSurface(config, { log: (line) => logs.push(line), stateDir, env: ENV });
  const delivered: ChatInbound[] = [];
  await surface.start(o.deliver ?? (async (m) => void delivered.push(m)));
  cleanups.push(() => surface.stop());
  const hook = `http://127.0.0.1:${surface.address()!.port}/whatsapp`;
  const post = (raw: string, signature: string | null = signWhatsApp(APP_SECRET, raw)) =>
    fetch(hook, { method: 'POST', headers: { 'content-type': 'application/json', ...(signature === null ? {} : { 'x-hub-signature-256': signature }) }, body: raw });
  return { wa, surface, delivered, logs, hook, post };
}

/** One webhook body carrying several messages of the same change, as Meta batches them. */
function batch(...bodies: Array<Record<string, unknown>>): Record<string, unknown> {
  type Value = { messages: unknown[]; contacts: unknown[] };
  const valueOf = (b: Record<string, unknown>) => (b['entry'] as Array<{ changes: Array<{ value: Value }> }>)[0]!.changes[0]!.value;
  const [first, ...rest] = bodies;
  const value = valueOf(first!);
  for (const b of rest) {
    value.messages.push(...valueOf(b).messages);
    value.contacts.push(...valueOf(b).contacts);
  }
  return first!;
}

const failure = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a rejection'); }, (e: unknown) => e as Error);

describe('WhatsAppSurfaceConfig', () => {
  const minimal = { access_token: TOKEN, phone_number_id: PHONE_ID, app_secret_env: 'APP_SECRET', verify_token: VERIFY, webhook: { port: 8443 } };

  it('fills in Graph and webhook defaults', () => {
    expect(WhatsAppSurfaceConfig.parse(minimal)).toEqual({
      ...minimal,
      graph_url: 'https://graph.facebook.com',
      graph_version: 'v21.0',
      send_timeout_ms: 30_000,
      webhook: { listen_host: '127.0.0.1', port: 8443, path: '/whatsapp' },
    });
  });

  it('wants each secret exactly once, inline or by variable name, and never echoes it', () => {
    const both = WhatsAppSurfaceConfig.safeParse({ ...minimal, access_token_env: 'WA_TOKEN' });
    expect(both.success).toBe(false);
    expect(both.error!.issues).toEqual([expect.objectContaining({ path: ['access_token'], message: 'give access_token or access_token_env, not both' })]);
    const neither = WhatsAppSurfaceConfig.safeParse({ ...minimal, verify_token: undefined });
    expect(neither.error!.issues).toEqual([
      expect.objectContaining({ path: ['verify_token'], message: 'missing: give verify_token, or verify_token_env naming an environment variable that holds it' }),
    ]);
    for (const r of [both, neither]) for (const s of SECRETS) expect(JSON.stringify(r.error!.issues) + r.error!.message).not.toContain(s);
  });

  it('refuses unknown fields and a malformed phone_number_id', () => {
    expect(WhatsAppSurfaceConfig.safeParse({ ...minimal, acces_token: 'x' }).success).toBe(false);
    expect(WhatsAppSurfaceConfig.safeParse({ ...minimal, phone_number_id: '+1 555 0100' }).success).toBe(false);
  });

  it('names the unset environment variable when a secret is missing from the environment', () => {
    const config = WhatsAppSurfaceConfig.parse(minimal);
    expect(() => createWhatsAppSurface(config, { log: () => {}, stateDir: tmpdir(), env: {} })).toThrow('app_secret_env: the environment variable APP_SECRET is not set or empty');
  });
});

describe('WhatsApp webhook: inbound messages', () => {
  it('hands over a text message with the sender as chat and user, named from contacts', async () => {
    const r = await rig();
    const id = newWamid();
    const res = await r.post(JSON.stringify(whatsappWebhookBody({ from: '4915550001', name: 'Grace', text: 'hello mesh', id })));
    expect(res.status).toBe(200);
    expect(r.delivered).toStrictEqual([{ dedupeId: id, chat: '4915550001', user: '4915550001', userName: 'Grace', text: 'hello mesh', messageId: id, attachments: [], direct: true }]);
    expect(r.surface.status()).toMatchObject({ connected: true, mode: 'webhook', last_event_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
  });

  it('gives a reply the wamid it answers as its thread', async () => {
    const r = await rig();
    expect((await r.post(JSON.stringify(whatsappWebhookBody({ from: '4915550001', text: 'yes', contextId: 'wamid.OUT1' })))).status).toBe(200);
    expect(r.delivered).toEqual([expect.objectContaining({ text: 'yes', thread: 'wamid.OUT1' })]);
  });

  it('names media as attachments (file name, or kind and type) with the caption as text and no size', async () => {
    const r = await rig();
    const body = batch(
      whatsappMediaWebhookBody({ from: '4915550001', kind: 'image', mimeType: 'image/jpeg', caption: 'the whiteboard' }),
      whatsappMediaWebhookBody({ from: '4915550001', kind: 'document', mimeType: 'application/pdf', filename: 'report.pdf', caption: 'Q3' }),
      whatsappMediaWebhookBody({ from: '4915550001', kind: 'audio', mimeType: 'audio/ogg; codecs=opus' }),
    );
    expect((await r.post(JSON.stringify(body))).status).toBe(200);
    expect(r.delivered.map((m) => [m.text, m.attachments])).toEqual([
      ['the whiteboard', [{ name: 'image.jpeg', size: null, mime: 'image/jpeg' }]],
      ['Q3', [{ name: 'report.pdf', size: null, mime: 'application/pdf' }]],
      ['', [{ name: 'audio.ogg', size: null, mime: 'audio/ogg' }]],
    ]);
  });

  it('relays a tapped button or list choice as its title', async () => {
    const r = await rig();
    const body = batch(whatsappWebhookBody({ from: '4915550001', text: '', id: 'wamid.B1' }), whatsappWebhookBody({ from: '4915550001', text: '', id: 'wamid.L1' }));
    const messages = (body['entry'] as Array<{ changes: Array<{ value: { messages: Array<Record<string, unknown>> } }> }>)[0]!.changes[0]!.value.messages;
    messages[0] = { from: '4915550001', id: 'wamid.B1', timestamp: '1700000000', type: 'button', button: { text: 'Approve', payload: 'approve' } };
    messages[1] = { from: '4915550001', id: 'wamid.L1', timestamp: '1700000000', type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: 'r2', title: 'Ship it' } } };
    expect((await r.post(JSON.stringify(body))).status).toBe(200);
    expect(r.delivered.map((m) => [m.dedupeId, m.text])).toEqual([['wamid.B1', 'Approve'], ['wamid.L1', 'Ship it']]);
  });

  it('acknowledges status updates and reactions without delivering anything', async () => {
    const r = await rig();
    expect((await r.post(JSON.stringify(whatsappStatusWebhookBody({ id: 'wamid.OUT1', recipient: '4915550001', status: 'read' })))).status).toBe(200);
    const reaction = whatsappWebhookBody({ from: '4915550001', text: '', id: 'wamid.R1' });
    const value = (reaction['entry'] as Array<{ changes: Array<{ value: { messages: Array<Record<string, unknown>> } }> }>)[0]!.changes[0]!.value;
    value.messages[0] = { from: '4915550001', id: 'wamid.R1', timestamp: '1700000000', type: 'reaction', reaction: { message_id: 'wamid.OUT1', emoji: '👍' } };
    expect((await r.post(JSON.stringify(reaction))).status).toBe(200);
    expect(r.delivered).toEqual([]);
    expect(r.logs).toContain('whatsapp: ignored a message of type reaction (wamid.R1)');
    expect(r.surface.status().last_event_at).not.toBeNull();
  });

  it('acknowledges but does not deliver messages to another phone_number_id', async () => {
    const r = await rig();
    const res = await r.post(JSON.stringify(whatsappWebhookBody({ from: '4915550001', text: 'not for us', phoneNumberId: '999000999' })));
    expect(res.status).toBe(200);
    expect(r.delivered).toEqual([]);
    expect(r.logs).toContain('whatsapp: ignored 1 message(s) to phone_number_id 999000999, not the configured one');
  });
});

describe('WhatsApp webhook: acknowledgement', () => {
  it('answers a POST only after deliver resolved', async () => {
    const events: string[] = [];
    let release = () => {};
    let called = () => {};
    const deliverCalled = new Promise<void>((resolve) => (called = resolve));
    const r = await rig({
      deliver: () => {
        events.push('deliver called');
        called();
        return new Promise<void>((resolve) => {
          release = () => {
            events.push('deliver resolved');
            resolve();
          };
        });
      },
    });
    const answered = r.post(JSON.stringify(whatsappWebhookBody({ from: '4915550001', text: 'hold on' }))).then((res) => {
      events.push(`answered ${res.status}`);
    });
    await deliverCalled;
    // A full round trip to the same server: an answer written before deliver settled would be in by now.
    const probe = await fetch(`${r.hook}?${whatsappVerifyQuery(VERIFY, '42')}`);
    expect(await probe.text()).toBe('42');
    expect(events).toEqual(['deliver called']);
    release();
    await answered;
    expect(events).toEqual(['deliver called', 'deliver resolved', 'answered 200']);
  });

  it('answers 500 when deliver rejects, and hands the redelivery over with the same dedupeId', async () => {
    const seen: string[] = [];
    let refuse = true;
    const r = await rig({
      deliver: async (m) => {
        seen.push(m.dedupeId);
        if (refuse) throw new Error('mesh unreachable');
      },
    });
    const id = newWamid();
    const raw = JSON.stringify(whatsappWebhookBody({ from: '4915550001', text: 'again?', id }));
    expect((await r.post(raw)).status).toBe(500);
    expect(r.surface.status().last_error).toContain('mesh unreachable');
    refuse = false;
    expect((await r.post(raw)).status).toBe(200);
    expect(seen).toEqual([id, id]);
  });

  it('hands one chat its messages in arrival order even when Meta posts them in parallel', async () => {
    const events: string[] = [];
    let releaseFirst = () => {};
    let called = () => {};
    const firstCalled = new Promise<void>((resolve) => (called = resolve));
    const r = await rig({
      deliver: (m) => {
        events.push(`deliver ${m.text}`);
        if (m.text !== 'first') return Promise.resolve();
        called();
        return new Promise<void>((resolve) => (releaseFirst = () => {
          events.push('first taken');
          resolve();
        }));
      },
    });
    const first = r.post(JSON.stringify(whatsappWebhookBody({ from: '4915550001', text: 'first' })));
    await firstCalled;
    const second = r.post(JSON.stringify(whatsappWebhookBody({ from: '4915550001', text: 'second' })));
    const otherChat = await r.post(JSON.stringify(whatsappWebhookBody({ from: '4915550002', text: 'elsewhere' })));
    // Another chat is not held up by the first one's wait.
    expect(otherChat.status).toBe(200);
    releaseFirst();
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    expect(events.filter((e) => e !== 'deliver elsewhere')).toEqual(['deliver first', 'first taken', 'deliver second']);
  });

  it('stops at the first refused message of a batch, so the retry brings the rest in order', async () => {
    const seen: string[] = [];
    let refuse = true;
    const r = await rig({
      deliver: async (m) => {
        seen.push(m.text);
        if (refuse && m.text === 'one') throw new Error('not now');
      },
    });
    const raw = JSON.stringify(batch(whatsappWebhookBody({ from: '4915550001', text: 'one' }), whatsappWebhookBody({ from: '4915550002', text: 'two' })));
    expect((await r.post(raw)).status).toBe(500);
    expect(seen).toEqual(['one']);
    refuse = false;
    expect((await r.post(raw)).status).toBe(200);
    expect(seen).toEqual(['one', 'one', 'two']);
  });
});

describe('WhatsApp webhook: security', () => {
  it('answers the subscribe handshake with the challenge only for the right verify token', async () => {
    const r = await rig();
    const ok = await fetch(`${r.hook}?${whatsappVerifyQuery(VERIFY, '1158201444')}`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('1158201444');
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain/);
    expect((await fetch(`${r.hook}?${whatsappVerifyQuery('verify-wrong', '1')}`)).status).toBe(403);
    expect((await fetch(`${r.hook}?${whatsappVerifyQuery(VERIFY.slice(0, -1), '1')}`)).status).toBe(403);
    const notSubscribe = whatsappVerifyQuery(VERIFY, '1');
    notSubscribe.set('hub.mode', 'unsubscribe');
    expect((await fetch(`${r.hook}?${notSubscribe}`)).status).toBe(403);
    expect((await fetch(`${r.hook}?hub.mode=subscribe&hub.challenge=1`)).status).toBe(403);
    expect((await fetch(`${r.hook.replace('/whatsapp', '/other')}?${whatsappVerifyQuery(VERIFY, '1')}`)).status).toBe(404);
  });

  it('refuses a POST with a missing or wrong signature with 401 and delivers nothing', async () => {
    const r = await rig();
    const raw = JSON.stringify(whatsappWebhookBody({ from: '4915550001', text: 'forged' }));
    expect((await r.post(raw, null)).status).toBe(401);
    expect((await r.post(raw, signWhatsApp('another-secret', raw))).status).toBe(401);
    // Signed over other bytes (the same JSON spaced differently): the signature covers the raw body.
    expect((await r.post(raw, signWhatsApp(APP_SECRET, JSON.stringify(JSON.parse(raw), null, 1)))).status).toBe(401);
    expect((await r.post(raw, signWhatsApp(APP_SECRET, raw).replace('sha256=', 'sha1='))).status).toBe(401);
    expect((await r.post(raw, 'sha256=')).status).toBe(401);
    expect(r.delivered).toEqual([]);
    expect(r.surface.status()).toMatchObject({ last_event_at: null, last_error: expect.stringContaining('X-Hub-Signature-256') });
  });

  it('refuses a body over 1 MiB with 413, whether its length is declared or streamed, and delivers nothing', async () => {
    const r = await rig();
    const raw = JSON.stringify({ ...whatsappWebhookBody({ from: '4915550001', text: 'big' }), pad: 'x'.repeat(MAX_BODY_BYTES) });
    const declared = await r.post(raw);
    expect(declared.status).toBe(413);
    const bytes = Buffer.from(raw);
    const streamed = await fetch(r.hook, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signWhatsApp(APP_SECRET, raw) },
      body: new ReadableStream<Uint8Array>({
        start(controller) {
          for (let at = 0; at < bytes.length; at += 64 * 1024) controller.enqueue(bytes.subarray(at, at + 64 * 1024));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(r.delivered).toEqual([]);
    // Just under the limit is taken.
    expect((await r.post(JSON.stringify(whatsappWebhookBody({ from: '4915550001', text: 'x'.repeat(MAX_BODY_BYTES - 2_000) })))).status).toBe(200);
    expect(r.delivered).toHaveLength(1);
  });

  it('keeps every secret out of log lines, status and send errors', async () => {
    const r = await rig({ fake: { accessToken: 'EAAG-the-right-one' }, deliver: async () => { throw new Error('mesh down'); } });
    await fetch(`${r.hook}?${whatsappVerifyQuery('verify-wrong', '1')}`);
    await fetch(`${r.hook}?${whatsappVerifyQuery(VERIFY, '1')}`);
    const raw = JSON.stringify(whatsappWebhookBody({ from: '4915550001', text: 'hi' }));
    await r.post(raw, signWhatsApp('wrong', raw));
    await r.post(raw);
    const refused = await failure(r.surface.send({ chat: '4915550001', text: 'x' }));
    r.wa.failNext(1, 3);
    const limited = await failure(r.surface.send({ chat: '4915550001', text: 'x' }));
    await r.surface.stop();
    // Each path that logs was taken: start, handshake both ways, bad signature, refused deliver, stop.
    expect(r.logs.join('\n')).toMatch(/listening[\s\S]*refused a webhook verification[\s\S]*subscription verified[\s\S]*X-Hub-Signature-256[\s\S]*mesh down[\s\S]*stopped/);
    const said = [...r.logs, refused.message, refused.stack ?? '', limited.message, JSON.stringify(r.surface.status())].join('\n');
    for (const s of SECRETS) expect(said).not.toContain(s);
  });
});

describe('WhatsApp send', () => {
  it('posts a text to the recipient, answering the thread as context, and returns the wamid', async () => {
    const r = await rig();
    const { messageId } = await r.surface.send({ chat: '4915550001', text: 'on it', thread: 'wamid.IN1' });
    const [sent] = await r.wa.waitForSends(1);
    expect(sent).toEqual({
      phoneNumberId: PHONE_ID,
      token: TOKEN,
      status: 200,
      id: messageId,
      body: { messaging_product: 'whatsapp', recipient_type: 'individual', to: '4915550001', type: 'text', text: { body: 'on it', preview_url: false }, context: { message_id: 'wamid.IN1' } },
    });
    expect(messageId).toMatch(/^wamid\./);
    await r.surface.send({ chat: '4915550002', text: 'fresh' });
    expect(r.wa.sent[1]!.body).not.toHaveProperty('context');
    expect(r.surface.maxText).toBe(4096);
  });

  it.each([
    ['HTTP 429 with Retry-After', { status: 429, code: 130429, retryAfterSeconds: 7 }, 7_000],
    ['throughput limit without Retry-After', { status: 429, code: 130429 }, 5_000],
    ['pair rate limit (131056)', { status: 400, code: 131056 }, 60_000],
    ['pair rate limit with Retry-After', { status: 400, code: 131056, retryAfterSeconds: 2 }, 2_000],
    ['app call limit (4)', { status: 400, code: 4 }, 60_000],
    ['account limit (80007)', { status: 400, code: 80007 }, 60_000],
    ['spam limit (131048)', { status: 400, code: 131048 }, 60_000],
  ])('throws RetryAfter for %s', async (_what, fail, ms) => {
    const r = await rig();
    r.wa.failNextWith(1, fail);
    const error = await failure(r.surface.send({ chat: '4915550001', text: 'x' }));
    expect(error).toBeInstanceOf(RetryAfter);
    expect((error as RetryAfter).ms).toBe(ms);
    expect(r.wa.sent.map((s) => s.status)).toEqual([fail.status]);
  });

  it.each([
    ['a token Graph refuses (401, 190)', { fake: { accessToken: 'EAAG-the-right-one' } }, undefined, /HTTP 401, code 190/],
    ['a recipient not on the allowed list (131030)', { fake: { allowedRecipients: ['4915559999'] } }, undefined, /code 131030/],
    ['an undeliverable recipient (131026)', {}, { status: 400, code: 131026 }, /code 131026/],
    ['an invalid parameter (100)', {}, { status: 400, code: 100 }, /code 100/],
    ['a closed 24-hour window (131047)', {}, { status: 400, code: 131047 }, /code 131047/],
  ])('throws PermanentSendError for %s', async (_what, setup, fail, message) => {
    const r = await rig(setup);
    if (fail) r.wa.failNextWith(1, fail);
    const error = await failure(r.surface.send({ chat: '4915550001', text: 'x' }));
    expect(error).toBeInstanceOf(PermanentSendError);
    expect(error.message).toMatch(message);
    expect(r.surface.status().last_error).toBe(error.message);
  });

  it.each([
    ['a 500 from Graph', { status: 500, code: 1 }],
    ['a 503 with a service error', { status: 503, code: 2 }],
    ['a 502 with an unknown code', { status: 502, code: 999_999 }],
  ])('rethrows %s as a plain error for the core to retry', async (_what, fail) => {
    const r = await rig();
    r.wa.failNextWith(1, fail);
    const error = await failure(r.surface.send({ chat: '4915550001', text: 'x' }));
    expect(error).not.toBeInstanceOf(RetryAfter);
    expect(error).not.toBeInstanceOf(PermanentSendError);
    expect(error.message).toContain(`HTTP ${fail.status}`);
  });

  it('rethrows a network error as a plain error', async () => {
    const closed = await startFakeWhatsApp();
    const origin = new URL(closed.graphBase).origin;
    await closed.close();
    const r = await rig({ config: { graph_url: origin } });
    const error = await failure(r.surface.send({ chat: '4915550001', text: 'x' }));
    expect(error).not.toBeInstanceOf(RetryAfter);
    expect(error).not.toBeInstanceOf(PermanentSendError);
    expect(r.wa.sent).toEqual([]);
  });
});

describe('WhatsApp surface lifecycle', () => {
  it('stop() closes the webhook server and its keep-alive sockets', async () => {
    const r = await rig();
    // fetch keeps its connection alive; stop must not wait for it or leave it open (afterEach counts).
    expect((await r.post(JSON.stringify(whatsappWebhookBody({ from: '4915550001', text: 'hi' })))).status).toBe(200);
    expect(r.surface.status().connected).toBe(true);
    await r.surface.stop();
    expect(r.surface.status()).toMatchObject({ connected: false, mode: 'webhook' });
    expect(r.surface.address()).toBeNull();
    await expect(fetch(`${r.hook}?${whatsappVerifyQuery(VERIFY, '1')}`)).rejects.toThrow();
    await r.surface.stop();
  });

  it('stop() does not wait for a request still held in deliver; its sender sees the connection drop', async () => {
    let release = () => {};
    let called = () => {};
    const deliverCalled = new Promise<void>((resolve) => (called = resolve));
    const r = await rig({
      deliver: () => {
        called();
        return new Promise<void>((resolve) => (release = resolve));
      },
    });
    const pending = r.post(JSON.stringify(whatsappWebhookBody({ from: '4915550001', text: 'in flight' })));
    await deliverCalled;
    // The deadline only turns a hang into a readable failure; stop takes milliseconds.
    let timer: NodeJS.Timeout | undefined;
    const stopped = await Promise.race([r.surface.stop().then(() => 'stopped'), new Promise((resolve) => (timer = setTimeout(() => resolve('hung'), 30_000)))]);
    clearTimeout(timer);
    expect(stopped).toBe('stopped');
    await expect(pending).rejects.toThrow();
    release();
  });

  it('refuses to start on a port already taken, naming it', async () => {
    const r = await rig();
    const port = r.surface.address()!.port;
    const config = WhatsAppSurfaceConfig.parse({ access_token: TOKEN, phone_number_id: PHONE_ID, app_secret: APP_SECRET, verify_token: VERIFY, webhook: { port } });
    const second = createWhatsAppSurface(config, { log: () => {}, stateDir: tmpdir() });
    await expect(second.start(async () => {})).rejects.toThrow(`cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
    expect(second.status().connected).toBe(false);
  });
});
