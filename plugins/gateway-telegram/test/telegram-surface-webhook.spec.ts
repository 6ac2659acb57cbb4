/**
 * The Telegram surface as a webhook, against the local fake of the Bot API (which POSTs updates as
 * Telegram does, and posts again what was not answered with 2xx): registration, the secret token,
 * answering only once the gateway took the update over, the body limit, stop().
 */
import { describe, expect, it } from 'vitest';
import type { FakeTelegram } from '../../../test/fakes/telegram.js';
import { eventually, freePort, Inbox, makeSurface, notHanging, tcpHandles, TOKEN, trackResources, WEBHOOK_SECRET } from './harness.js';

const { cleanups, logs, fake } = trackResources();

async function webhook(tg: FakeTelegram, inbox: Inbox, hook: Record<string, unknown> = {}) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/telegram`;
  const run = makeSurface({ token: TOKEN, api_root: tg.apiRoot, mode: 'webhook', webhook: { port, secret_token: WEBHOOK_SECRET, ...hook } }, logs);
  cleanups.push(() => run.surface.stop());
  // Runs before stop(): a test that failed holding a delivery must not leave stop() waiting on it.
  cleanups.push(async () => inbox.release());
  await run.surface.start(inbox.deliver);
  return { ...run, url };
}

/** setWebhook as an operator would call it by hand (the surface registers nothing without public_url). */
async function registerAt(tg: FakeTelegram, url: string): Promise<void> {
  await fetch(`${tg.apiRoot}/bot${TOKEN}/setWebhook`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url, secret_token: WEBHOOK_SECRET }) });
}

/** A POST as Telegram makes it; `secret` null leaves the header out. */
async function post(url: string, body: string | Buffer, secret: string | null = WEBHOOK_SECRET): Promise<number> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (secret !== null) headers['x-telegram-bot-api-secret-token'] = secret;
  const res = await fetch(url, { method: 'POST', headers, body });
  await res.arrayBuffer();
  return res.status;
}

const update = (id: number, message: Record<string, unknown> = {}) =>
  JSON.stringify({ update_id: id, message: { message_id: 7, date: 1, chat: { id: 5, type: 'private' }, from: { id: 5, is_bot: false, first_name: 'Ada' }, text: 'hi', ...message } });

describe('webhook', () => {
  it('registers public_url and its secret token with Telegram at start, and delivers what Telegram posts', async () => {
    const tg = await fake();
    const inbox = new Inbox();
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}/telegram`;
    const run = makeSurface({ token: TOKEN, api_root: tg.apiRoot, mode: 'webhook', webhook: { port, secret_token: WEBHOOK_SECRET, public_url: publicUrl } }, logs);
    cleanups.push(() => run.surface.stop());
    await run.surface.start(inbox.deliver);

    expect(tg.webhook).toEqual({ url: publicUrl, secretToken: WEBHOOK_SECRET });
    expect(tg.sent.find((c) => c.method === 'setWebhook')?.body).toMatchObject({ url: publicUrl, allowed_updates: ['message'] });
    const pushed = tg.pushUpdate({ chat: { id: -100555, type: 'group', title: 'Ops' }, text: 'via the webhook' });
    await eventually(() => tg.webhookDeliveries.length === 1, 'Telegram got its answer');
    expect(tg.webhookDeliveries).toEqual([{ update_id: pushed.update_id, attempt: 1, status: 200 }]);
    expect(inbox.taken).toMatchObject([{ dedupeId: String(pushed.update_id), chat: '-100555', text: 'via the webhook', direct: false }]);
    expect(run.surface.status()).toMatchObject({ connected: true, mode: 'webhook', last_error: null });
    expect(run.surface.status().last_event_at).not.toBeNull();
  });

  it('answers only once deliver settled: 500 when it rejected, and Telegram posts the update again under the same dedupeId', async () => {
    const tg = await fake();
    const inbox = new Inbox();
    const { url } = await webhook(tg, inbox);
    await registerAt(tg, url);
    inbox.hold();
    const pushed = tg.pushUpdate({ text: 'held' });
    await eventually(() => inbox.calls.length === 1, 'deliver called');
    // A request that went after it has been answered; the held one still has not.
    expect(await post(url.replace('/telegram', '/elsewhere'), '{}')).toBe(404);
    expect(tg.webhookDeliveries).toEqual([]);

    inbox.refuse(String(pushed.update_id), 1);
    inbox.release();
    await eventually(() => inbox.taken.length === 1, 'taken over on the retry');
    await eventually(() => tg.webhookDeliveries.length === 2, 'the retry answered');
    expect(tg.webhookDeliveries.map((d) => d.status)).toEqual([500, 200]);
    expect(inbox.calls.map((m) => m.dedupeId)).toEqual([String(pushed.update_id), String(pushed.update_id)]);
  });

  it('refuses a request without the right secret token with 401 and delivers nothing', async () => {
    const tg = await fake();
    const inbox = new Inbox();
    const { url, surface } = await webhook(tg, inbox);
    const lastCharChanged = WEBHOOK_SECRET.slice(0, -1) + (WEBHOOK_SECRET.endsWith('2') ? '3' : '2');
    for (const secret of [null, '', 'wrong', lastCharChanged, WEBHOOK_SECRET.slice(0, -1), `${WEBHOOK_SECRET}x`, WEBHOOK_SECRET.toUpperCase()]) {
      expect(await post(url, update(1), secret), `secret ${JSON.stringify(secret)}`).toBe(401);
    }
    expect(inbox.calls).toEqual([]);
    expect(surface.status().last_event_at).toBeNull();
    expect(logs.filter((l) => l.includes('webhook refused a request'))).toHaveLength(7);
    // The same request with the right token goes through.
    expect(await post(url, update(2))).toBe(200);
    expect(inbox.taken.map((m) => m.dedupeId)).toEqual(['2']);
  });

  it('refuses a body over 1 MiB (413), other paths (404), other methods (405) and a body that is no update (400)', async () => {
    const tg = await fake();
    const inbox = new Inbox();
    const { url } = await webhook(tg, inbox);
    const huge = update(3, { text: 'x'.repeat(1 << 20) });
    expect(await post(url, huge)).toBe(413);
    expect(await post(url.replace('/telegram', '/telegram/x'), update(4))).toBe(404);
    expect((await fetch(url, { headers: { 'x-telegram-bot-api-secret-token': WEBHOOK_SECRET } })).status).toBe(405);
    expect(await post(url, 'not json')).toBe(400);
    expect(await post(url, '{"message":{}}')).toBe(400);
    expect(inbox.calls).toEqual([]);
    // Just under the limit is fine.
    expect(await post(url, update(5, { text: 'x'.repeat((1 << 20) - 300) }))).toBe(200);
    expect(inbox.taken.map((m) => m.dedupeId)).toEqual(['5']);
  });

  it('answers 200 without delivering for bot messages and updates that are not messages', async () => {
    const tg = await fake();
    const inbox = new Inbox();
    const { url } = await webhook(tg, inbox);
    expect(await post(url, update(10, { from: { id: 9, is_bot: true, first_name: 'Bot' } }))).toBe(200);
    expect(await post(url, JSON.stringify({ update_id: 11, edited_message: { message_id: 7, date: 1, chat: { id: 5, type: 'private' }, text: 'x' } }))).toBe(200);
    expect(await post(url, JSON.stringify({ update_id: 12, my_chat_member: {} }))).toBe(200);
    expect(inbox.calls).toEqual([]);
    expect(await post(url, update(13))).toBe(200);
    expect(inbox.taken.map((m) => m.dedupeId)).toEqual(['13']);
  });

  it('hands updates to deliver one at a time: the next waits until the one before settled', async () => {
    const tg = await fake();
    const inbox = new Inbox();
    const { url } = await webhook(tg, inbox);
    inbox.hold();
    const answers = [post(url, update(40))];
    await eventually(() => inbox.calls.length === 1, 'the first delivery started');
    answers.push(post(url, update(41)), post(url, update(42)));
    // Requests after them have been answered; the two behind the held one are still not handed over.
    expect(await post(url.replace('/telegram', '/elsewhere'), '{}')).toBe(404);
    expect(inbox.calls).toHaveLength(1);
    inbox.release();
    expect(await Promise.all(answers)).toEqual([200, 200, 200]);
    expect(inbox.calls.map((m) => m.dedupeId)).toHaveLength(3);
    expect(inbox.taken[0]!.dedupeId).toBe('40');
    expect(new Set(inbox.taken.map((m) => m.dedupeId))).toEqual(new Set(['40', '41', '42']));
  });

  it('without public_url nothing is registered; stop() lets a delivery under way answer, takes nothing new, and closes every connection', async () => {
    const tg = await fake({ keepAliveMs: 120_000 });
    const before = tcpHandles();
    const inbox = new Inbox();
    const { url, surface } = await webhook(tg, inbox);
    expect(tg.sent.map((c) => c.method)).toEqual([]);
    expect(await post(url, update(20))).toBe(200);
    // Its kept-alive connection to the Bot API has to be closed by stop() too.
    await surface.send({ chat: '5', text: 'ack' });
    inbox.hold();
    const underWay = post(url, update(21));
    await eventually(() => inbox.calls.length === 2, 'the second delivery started');
    expect(tcpHandles()).toBeGreaterThan(before);

    const stopped = surface.stop();
    expect(surface.status().connected).toBe(false);
    // Nothing new is taken while stopping: refused (Telegram posts it again later) or not even connected.
    const late = await post(url, update(22)).catch((err: unknown) => err);
    expect(late === 503 || late instanceof Error).toBe(true);
    inbox.release();
    expect(await underWay).toBe(200);
    await notHanging(stopped, 'stop() after the delivery under way answered');
    expect(inbox.taken.map((m) => m.dedupeId)).toEqual(['20', '21']);
    await eventually(() => tcpHandles() <= before, 'every socket closed', 20_000);
    expect(await post(url, update(23)).catch((err: unknown) => err)).toBeInstanceOf(Error);
  });

  it('start() fails, and closes its server, when Telegram refuses the webhook', async () => {
    const tg = await fake();
    tg.failNextWith('setWebhook', 1, { error_code: 400, description: 'Bad Request: bad webhook: HTTPS url must be provided for webhook' });
    const port = await freePort();
    const run = makeSurface({ token: TOKEN, api_root: tg.apiRoot, mode: 'webhook', webhook: { port, secret_token: WEBHOOK_SECRET, public_url: 'http://gw.example/telegram' } }, logs);
    cleanups.push(() => run.surface.stop());
    const err = (await run.surface.start(new Inbox().deliver).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe("telegram: setWebhook failed: Call to 'setWebhook' failed! (400: Bad Request: bad webhook: HTTPS url must be provided for webhook)");
    expect(await post(`http://127.0.0.1:${port}/telegram`, update(30)).catch((e: unknown) => e)).toBeInstanceOf(Error);
    expect(run.surface.status()).toMatchObject({ connected: false, last_error: err.message });
  });
});
