/**
 * The chat-API fakes under test/fakes, checked against the real client libraries the gateways will
 * use (grammY, @slack/bolt) and against the documented WhatsApp webhook and Graph shapes. If a fake
 * drifts from what the library expects, this file fails before any gateway test does.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { App, LogLevel, webApi } from '@slack/bolt';
import { Bot, GrammyError } from 'grammy';
import { describe, expect, it } from 'vitest';
import { startLocalServer } from '../../../test/fakes/http.js';
import { signSlackRequest, slackEventCallback, startFakeSlack, type FakeSlack } from '../../../test/fakes/slack.js';
import { startFakeTelegram, type FakeTelegram } from '../../../test/fakes/telegram.js';
import { signWhatsApp, startFakeWhatsApp, whatsappVerifyQuery, whatsappWebhookBody, type FakeWhatsApp } from '../../../test/fakes/whatsapp.js';
import { closeEverythingAfterEach } from '../../../test/helpers/tcp-cleanups.js';

const cleanups = closeEverythingAfterEach();

describe('fake Telegram Bot API', () => {
  let tg: FakeTelegram;

  it('a grammY bot long-polls a pushed update and replies to it; the fake records the reply', async () => {
    tg = await startFakeTelegram({ token: '123:fake' });
    cleanups.push(() => tg.close());
    const bot = new Bot('123:fake', { client: { apiRoot: tg.apiRoot } });
    const replied = new Promise<void>((resolve, reject) => {
      bot.on('message:text', async (ctx) => {
        try {
          await ctx.reply(`echo: ${ctx.message.text}`, { reply_parameters: { message_id: ctx.message.message_id } });
          resolve();
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    let stopped: Promise<void> | undefined;
    await new Promise<void>((started) => {
      stopped = bot.start({ timeout: 30, onStart: () => started() });
    });
    cleanups.push(async () => {
      if (bot.isRunning()) await bot.stop();
      await stopped;
    });
    expect(bot.botInfo.username).toBe(tg.bot.username);

    // Pushed once the bot is polling: the waiting getUpdates answers at once.
    await tg.waitForCall('getUpdates');
    const update = tg.pushUpdate({ chat: { id: 5550001, type: 'private', first_name: 'Ada' }, text: 'hello mesh' });
    await replied;

    const sends = tg.sent.filter((c) => c.method === 'sendMessage');
    expect(sends).toHaveLength(1);
    expect(sends[0]!.body).toMatchObject({ chat_id: 5550001, text: 'echo: hello mesh', reply_parameters: { message_id: update.message!.message_id } });
    expect(tg.sent.map((c) => c.method)).toEqual(['getMe', 'deleteWebhook', 'sendMessage']);

    await bot.stop();
    // bot.stop() confirms the handled update: the fake has nothing left to hand out.
    const res = await fetch(`${tg.apiRoot}/bot123:fake/getUpdates`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"timeout":0}' });
    expect(await res.json()).toEqual({ ok: true, result: [] });
  });

  it('sendMessage answers a Message with chat and reply_to_message; unknown replies, methods and tokens fail as Telegram does', async () => {
    tg = await startFakeTelegram({ token: '123:fake' });
    cleanups.push(() => tg.close());
    const call = async (method: string, body: unknown, token = '123:fake') => {
      const res = await fetch(`${tg.apiRoot}/bot${token}/${method}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const incoming = tg.pushUpdate({ chat: { id: -100777, type: 'supergroup', title: 'Mesh' }, text: 'ping' }).message!;
    const sent = await call('sendMessage', { chat_id: -100777, text: 'pong', reply_to_message_id: incoming.message_id });
    expect(sent.status).toBe(200);
    expect(sent.json['result']).toMatchObject({ chat: { id: -100777, type: 'supergroup', title: 'Mesh' }, text: 'pong', from: { is_bot: true }, reply_to_message: { message_id: incoming.message_id, text: 'ping' } });

    expect(await call('sendMessage', { chat_id: -100777, text: 'x', reply_parameters: { message_id: 999999 } })).toEqual({
      status: 400,
      json: { ok: false, error_code: 400, description: 'Bad Request: message to be replied not found' },
    });
    expect(await call('sendSticker', {})).toEqual({ status: 404, json: { ok: false, error_code: 404, description: 'Not Found' } });
    expect((await call('getMe', {}, '999:other')).status).toBe(401);
  });

  it('failNext answers 429 with parameters.retry_after, then the method works again', async () => {
    tg = await startFakeTelegram();
    cleanups.push(() => tg.close());
    tg.failNext('sendMessage', 1, 7);
    const send = () => fetch(`${tg.apiRoot}/botX:Y/sendMessage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"chat_id":1,"text":"hi"}' });
    const first = await send();
    expect(first.status).toBe(429);
    expect(await first.json()).toEqual({ ok: false, error_code: 429, description: 'Too Many Requests: retry after 7', parameters: { retry_after: 7 } });
    const second = await send();
    expect(second.status).toBe(200);
    expect(tg.sent.map((c) => c.status)).toEqual([429, 200]);

    // grammY (without its auto-retry plugin) surfaces the same answer as a GrammyError.
    tg.failNext('sendMessage', 1, 5);
    const bot = new Bot('X:Y', { client: { apiRoot: tg.apiRoot } });
    const err = await bot.api.sendMessage(1, 'hi').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GrammyError);
    expect(err).toMatchObject({ error_code: 429, parameters: { retry_after: 5 } });
  });

  it('getUpdates honours offset and limit; a webhook takes pushed updates instead', async () => {
    tg = await startFakeTelegram();
    cleanups.push(() => tg.close());
    const getUpdates = async (body: unknown) =>
      ((await (await fetch(`${tg.apiRoot}/botX:Y/getUpdates`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as { result: Array<{ update_id: number }> }).result;
    const ids = [tg.pushUpdate({ text: 'a' }), tg.pushUpdate({ text: 'b' }), tg.pushUpdate({ text: 'c' })].map((u) => u.update_id);
    expect((await getUpdates({ limit: 2 })).map((u) => u.update_id)).toEqual(ids.slice(0, 2));
    expect((await getUpdates({ offset: ids[1] })).map((u) => u.update_id)).toEqual(ids.slice(1));
    // The earlier offset confirmed the first update: it is gone even without an offset.
    expect((await getUpdates({})).map((u) => u.update_id)).toEqual(ids.slice(1));

    // A long poll waits, and answers as soon as an update arrives.
    const polling = getUpdates({ offset: ids[2]! + 1, timeout: 50 });
    await tg.waitForCall('getUpdates', 4);
    const late = tg.pushUpdate({ text: 'late' });
    expect((await polling).map((u) => u.update_id)).toEqual([late.update_id]);

    const received: unknown[] = [];
    const hook = await startHookSink((body) => received.push(body));
    cleanups.push(() => hook.close());
    await fetch(`${tg.apiRoot}/botX:Y/setWebhook`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: hook.url, secret_token: 's3cret' }) });
    expect(tg.webhook).toEqual({ url: hook.url, secretToken: 's3cret' });
    const pushed = tg.pushUpdate({ text: 'via hook' });
    await hook.next();
    expect(received).toEqual([pushed]);
    expect(hook.headers[0]?.['x-telegram-bot-api-secret-token']).toBe('s3cret');
    const conflict = await fetch(`${tg.apiRoot}/botX:Y/getUpdates`, { method: 'POST' });
    expect(conflict.status).toBe(409);
  });
});

describe('fake Slack Web API and Socket Mode', () => {
  let slack: FakeSlack;

  it('a bolt App in Socket Mode gets a pushed message event, acks it and says a reply in the thread', async () => {
    slack = await startFakeSlack();
    cleanups.push(() => slack.close());
    const app = new App({
      token: 'xoxb-fake-bot',
      appToken: 'xapp-fake-app',
      socketMode: true,
      logLevel: LogLevel.ERROR,
      clientOptions: { slackApiUrl: slack.slackApiUrl },
    });
    app.message(async ({ message, say }) => {
      if (message.subtype !== undefined) return;
      await say({ text: `echo: ${message.text ?? ''}`, thread_ts: message.ts });
    });
    await app.start();
    cleanups.push(() => app.stop());
    await slack.connected();
    // auth.test gives bolt the bot's own ids (for ignoreSelf) and apps.connections.open the socket URL.
    expect(slack.calls.map((c) => c.method)).toEqual(expect.arrayContaining(['auth.test', 'apps.connections.open']));
    expect(slack.calls.find((c) => c.method === 'apps.connections.open')?.token).toBe('xapp-fake-app');

    const envelope = await slack.pushEvent({ type: 'message', channel: 'C0MESH0001', user: 'U0ADA00001', text: 'hello mesh' });
    const ack = await slack.waitForAck(envelope.envelope_id);
    expect(ack.envelope_id).toBe(envelope.envelope_id);
    const [post] = await slack.waitForPosts(1);
    expect(post).toMatchObject({ channel: 'C0MESH0001', text: 'echo: hello mesh', thread_ts: envelope.payload.event['ts'] });
    expect(slack.calls.find((c) => c.method === 'chat.postMessage')?.token).toBe('xoxb-fake-bot');

    // An event from the bot itself is acked but not answered (bolt's ignoreSelf, fed by auth.test).
    const own = await slack.pushEvent({ type: 'message', channel: 'C0MESH0001', user: slack.botUser.user_id, bot_id: slack.botUser.bot_id, text: 'mine' });
    await slack.waitForAck(own.envelope_id);
    expect(slack.posted).toHaveLength(1);
  });

  it('Web API: 429 with Retry-After on failNext, token types checked, conversations.info / users.info answered', async () => {
    slack = await startFakeSlack();
    cleanups.push(() => slack.close());
    const call = async (method: string, token: string, fields: Record<string, string>) => {
      const res = await fetch(`${slack.slackApiUrl}${method}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields).toString(),
      });
      return { status: res.status, retryAfter: res.headers.get('retry-after'), json: (await res.json()) as Record<string, unknown> };
    };
    slack.failNext('chat.postMessage', 1, 3);
    expect(await call('chat.postMessage', 'xoxb-t', { channel: 'C1', text: 'hi' })).toEqual({ status: 429, retryAfter: '3', json: { ok: false, error: 'ratelimited' } });
    const posted = await call('chat.postMessage', 'xoxb-t', { channel: 'C1', text: 'hi', thread_ts: '1700000000.000100' });
    expect(posted.json).toMatchObject({ ok: true, channel: 'C1', message: { text: 'hi', thread_ts: '1700000000.000100' } });
    expect(slack.posted).toHaveLength(1);

    expect((await call('apps.connections.open', 'xoxb-t', {})).json).toEqual({ ok: false, error: 'not_allowed_token_type' });
    expect((await call('auth.test', 'bogus', {})).json).toEqual({ ok: false, error: 'invalid_auth' });
    expect((await call('conversations.info', 'xoxb-t', { channel: 'D0DM000001' })).json).toMatchObject({ ok: true, channel: { id: 'D0DM000001', is_im: true } });
    expect((await call('users.info', 'xoxb-t', { user: 'U0ADA00001' })).json).toMatchObject({ ok: true, user: { id: 'U0ADA00001', is_bot: false } });
    expect((await call('emoji.list', 'xoxb-t', {})).json).toEqual({ ok: false, error: 'unknown_method' });
  });

  it("Slack's own WebClient reads the fake's 429: it waits Retry-After and retries, or rejects with retryAfter when told to", async () => {
    slack = await startFakeSlack();
    cleanups.push(() => slack.close());
    const client = new webApi.WebClient('xoxb-fake-bot', { slackApiUrl: slack.slackApiUrl, logLevel: webApi.LogLevel.ERROR });
    slack.failNext('chat.postMessage', 1, 0);
    const res = await client.chat.postMessage({ channel: 'C1', text: 'after a retry' });
    expect(res.ok).toBe(true);
    expect(slack.calls.filter((c) => c.method === 'chat.postMessage').map((c) => c.status)).toEqual([429, 200]);

    const strict = new webApi.WebClient('xoxb-fake-bot', { slackApiUrl: slack.slackApiUrl, rejectRateLimitedCalls: true, logLevel: webApi.LogLevel.ERROR });
    slack.failNext('chat.postMessage', 1, 9);
    await expect(strict.chat.postMessage({ channel: 'C1', text: 'x' })).rejects.toMatchObject({ code: webApi.ErrorCode.RateLimitedError, retryAfter: 9 });
  });

  it('signSlackRequest signs v0:<ts>:<raw body> the way Slack documents it', () => {
    const raw = JSON.stringify(slackEventCallback({ type: 'message', text: 'hi' }));
    const headers = signSlackRequest('signing-secret', raw, 1700000000);
    expect(headers['x-slack-request-timestamp']).toBe('1700000000');
    const expected = `v0=${createHmac('sha256', 'signing-secret').update(`v0:1700000000:${raw}`).digest('hex')}`;
    expect(headers['x-slack-signature']).toBe(expected);
    // Slack's own published example (api.slack.com/authentication/verifying-requests-from-slack).
    const body =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    expect(signSlackRequest('8f742231b10e8888abcd99yyyzzz85a5', body, 1531420618)['x-slack-signature']).toBe(
      'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
    );
  });
});

describe('fake WhatsApp Cloud API', () => {
  let wa: FakeWhatsApp;

  it('a webhook body and its signature verify by recomputing over the raw bytes', () => {
    const body = whatsappWebhookBody({ from: '4915550001', text: 'hello mesh', id: 'wamid.IN1', contextId: 'wamid.OUT0' });
    const raw = JSON.stringify(body);
    const sig = signWhatsApp('app-secret', raw);
    expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/);
    const recomputed = Buffer.from(`sha256=${createHmac('sha256', 'app-secret').update(Buffer.from(raw)).digest('hex')}`);
    expect(timingSafeEqual(Buffer.from(sig), recomputed)).toBe(true);
    // Re-serialised with other spacing the bytes differ, and so does the signature: verify the raw body.
    expect(signWhatsApp('app-secret', JSON.stringify(body, null, 1))).not.toBe(sig);

    const value = (body['entry'] as Array<{ changes: Array<{ field: string; value: Record<string, unknown> }> }>)[0]!.changes[0]!;
    expect(value.field).toBe('messages');
    expect(value.value['messages']).toEqual([{ from: '4915550001', id: 'wamid.IN1', timestamp: expect.stringMatching(/^\d+$/), type: 'text', text: { body: 'hello mesh' }, context: { from: '15550001234', id: 'wamid.OUT0' } }]);
    const q = whatsappVerifyQuery('verify-me', '1158201444');
    expect(q.toString()).toBe('hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444');
  });

  it('a Graph send is answered with a wamid and recorded; failNext answers 429 with Retry-After', async () => {
    wa = await startFakeWhatsApp({ accessToken: 'EAAG-fake' });
    cleanups.push(() => wa.close());
    const send = (body: unknown, token = 'EAAG-fake') =>
      fetch(`${wa.graphBase}/100000000000001/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const message = { messaging_product: 'whatsapp', recipient_type: 'individual', to: '4915550001', type: 'text', text: { body: 'hi' }, context: { message_id: 'wamid.IN1' } };

    wa.failNext(1, 2);
    const limited = await send(message);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(((await limited.json()) as { error: { code: number } }).error.code).toBe(130429);

    const res = await send(message);
    expect(res.status).toBe(200);
    const json = (await res.json()) as { messaging_product: string; messages: Array<{ id: string }> };
    expect(json.messaging_product).toBe('whatsapp');
    expect(json.messages[0]!.id).toMatch(/^wamid\./);
    const [recorded] = await wa.waitForSends(1);
    expect(recorded).toMatchObject({ phoneNumberId: '100000000000001', body: message, id: json.messages[0]!.id });

    expect((await send(message, 'wrong')).status).toBe(401);
    expect((await send({ to: '1' })).status).toBe(400);
  });
});

/** A local endpoint that records what a fake POSTs to it (webhook deliveries). */
async function startHookSink(onBody: (body: unknown) => void) {
  const headers: Array<Record<string, string | string[] | undefined>> = [];
  const waiting: Array<() => void> = [];
  const local = await startLocalServer((req, res) => {
    headers.push(req.headers);
    onBody(req.body);
    res.writeHead(200).end();
    waiting.shift()?.();
  });
  return {
    url: `http://127.0.0.1:${local.port}/hook`,
    headers,
    next: () => (headers.length > 0 ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve))),
    close: () => local.close(),
  };
}
