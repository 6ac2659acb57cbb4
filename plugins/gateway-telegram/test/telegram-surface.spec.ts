/**
 * The Telegram surface by long polling, with grammY against the local fake of the Bot API: what an
 * update becomes, that the offset moves past an update only once the gateway took it over, restart
 * from telegram-offset.json, stop(), and the config schema. Webhook: telegram-surface-webhook.spec.ts;
 * sending: telegram-surface-send.spec.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FakeTelegram } from '../../../test/fakes/telegram.js';
import { TelegramSurfaceConfig } from '../src/telegram-surface.js';
import { eventually, Inbox, makeSurface, newStateDir, notHanging, tcpHandles, TOKEN, trackResources, WEBHOOK_SECRET } from './harness.js';

const { cleanups, logs, fake } = trackResources();

async function polling(tg: FakeTelegram, inbox: Inbox, extra: Record<string, unknown> = {}, stateDir?: string) {
  const run = makeSurface({ token: TOKEN, api_root: tg.apiRoot, ...extra }, logs, stateDir ? { stateDir } : {});
  cleanups.push(() => run.surface.stop());
  // Runs before stop(): a test that failed holding a delivery must not leave stop() waiting on it.
  cleanups.push(async () => inbox.release());
  await run.surface.start(inbox.deliver);
  return run;
}

describe('inbound mapping', () => {
  it('a text in a private chat becomes a direct message, its update_id the dedupeId', async () => {
    const tg = await fake();
    const inbox = new Inbox();
    await polling(tg, inbox);
    const update = tg.pushUpdate({
      chat: { id: 5550001, type: 'private', first_name: 'Ada' },
      from: { id: 5550001, is_bot: false, first_name: 'Ada', last_name: 'Lovelace', username: 'ada' },
      text: 'hello mesh',
    });
    await eventually(() => inbox.taken.length === 1, 'the text delivered');
    expect(inbox.taken[0]).toEqual({
      dedupeId: String(update.update_id),
      chat: '5550001',
      user: '5550001',
      userName: 'Ada Lovelace',
      text: 'hello mesh',
      messageId: String(update.message!.message_id),
      attachments: [],
      direct: true,
    });
  });

  it('a reply in a group carries its thread; a document, a photo and a voice note become attachments named with their size', async () => {
    const tg = await fake();
    const inbox = new Inbox();
    await polling(tg, inbox);
    const group = { id: -1001234, type: 'supergroup' as const, title: 'Mesh' };
    const grace = { id: 42, is_bot: false, first_name: 'Grace' };
    const first = tg.pushUpdate({ chat: group, from: grace, text: 'the spec?' }).message!;
    const doc = tg.pushUpdate({
      chat: group,
      from: { id: 43, is_bot: false, first_name: '', username: 'linus' },
      reply_to_message: first,
      caption: 'here it is',
      document: { file_id: 'F1', file_unique_id: 'U1', file_name: 'spec.pdf', mime_type: 'application/pdf', file_size: 123456 },
    });
    tg.pushUpdate({
      chat: group,
      from: grace,
      photo: [
        { file_id: 'P1', file_unique_id: 'PU1', width: 90, height: 67, file_size: 1_200 },
        { file_id: 'P3', file_unique_id: 'PU3', width: 1280, height: 960, file_size: 150_000 },
        { file_id: 'P2', file_unique_id: 'PU2', width: 320, height: 240, file_size: 15_000 },
      ],
    });
    tg.pushUpdate({ chat: group, from: grace, voice: { file_id: 'V1', file_unique_id: 'VU1', duration: 3, file_size: 4_321 } });
    await eventually(() => inbox.taken.length === 4, 'four messages delivered');

    const [question, withDoc, photo, voice] = inbox.taken;
    expect(question).toMatchObject({ chat: '-1001234', user: '42', userName: 'Grace', direct: false, attachments: [] });
    expect(question!.thread).toBeUndefined();
    expect(withDoc).toMatchObject({
      messageId: String(doc.message!.message_id),
      thread: String(first.message_id),
      userName: '@linus',
      text: 'here it is',
      attachments: [{ name: 'spec.pdf', size: 123456, mime: 'application/pdf' }],
      direct: false,
    });
    expect(photo).toMatchObject({ text: '', attachments: [{ name: 'photo.jpg', size: 150_000, mime: 'image/jpeg' }] });
    expect(voice).toMatchObject({ attachments: [{ name: 'voice.ogg', size: 4_321, mime: 'audio/ogg' }] });
  });

  it('messages from bots, stickers and updates that are not messages are skipped, and the offset moves past them', async () => {
    const tg = await fake();
    const inbox = new Inbox();
    const { surface, stateDir } = await polling(tg, inbox);
    const fromBot = tg.pushUpdate({ from: { id: 99, is_bot: true, first_name: 'Other bot' }, text: 'beep' });
    tg.pushUpdate({ sticker: { file_id: 'S1', file_unique_id: 'SU1', width: 512, height: 512 } });
    const edit = tg.pushRawUpdate({ edited_message: { ...fromBot.message!, from: { id: 1, is_bot: false, first_name: 'Ada' }, text: 'edited' } });
    const real = tg.pushUpdate({ text: 'a person' });
    await eventually(() => inbox.taken.length === 1, 'the one message from a person delivered');
    expect(inbox.calls.map((m) => m.text)).toEqual(['a person']);
    await eventually(() => readOffset(stateDir) === real.update_id + 1, 'the offset saved past the last update');
    expect(real.update_id).toBeGreaterThan(edit.update_id);
    await surface.stop();
    expect(surface.status()).toMatchObject({ mode: 'polling', connected: false, last_error: null });
    expect(surface.status().last_event_at).not.toBeNull();
  });
});

describe('acknowledging only what the gateway took over', () => {
  it('a refused update is delivered again, with the same dedupeId, before the next one; the offset does not pass it meanwhile', async () => {
    const tg = await fake();
    const inbox = new Inbox();
    const first = tg.pushUpdate({ text: 'first' });
    const second = tg.pushUpdate({ text: 'second' });
    inbox.refuse(String(first.update_id), 2);
    const stateDir = newStateDir();
    const seenOffsets: Array<number | undefined> = [];
    inbox.onCall = () => seenOffsets.push(readOffset(stateDir));
    await polling(tg, inbox, {}, stateDir);
    await eventually(() => inbox.taken.length === 2, 'both taken over');

    expect(inbox.calls.map((m) => m.dedupeId)).toEqual([first, first, first, second].map((u) => String(u.update_id)));
    // While the first was refused, nothing was saved; the second came only after the first was taken.
    expect(seenOffsets).toEqual([undefined, undefined, undefined, first.update_id + 1]);
    await eventually(() => readOffset(stateDir) === second.update_id + 1, 'the offset saved past the second');
  });

  it('a restart resumes after the last update taken over (telegram-offset.json), and redelivers one that never was', async () => {
    const tg = await fake();
    const inbox = new Inbox();
    const taken = tg.pushUpdate({ text: 'taken over' });
    // Stopped right as the gateway takes it: the next getUpdates, which would confirm it to Telegram, never happens.
    const run = makeSurface({ token: TOKEN, api_root: tg.apiRoot }, logs);
    cleanups.push(() => run.surface.stop());
    let stopping: Promise<void> | undefined;
    inbox.onCall = () => (stopping = run.surface.stop());
    await run.surface.start(inbox.deliver);
    await eventually(() => stopping !== undefined, 'the update delivered');
    await stopping;
    expect(readOffset(run.stateDir)).toBe(taken.update_id + 1);
    // Telegram still holds it unconfirmed: without the saved offset it would come again.
    expect((await pendingAtTelegram(tg)).map((u) => u.update_id)).toEqual([taken.update_id]);

    // A second run with the same state: what was taken is not delivered again; a refused one is kept.
    const again = new Inbox();
    const refused = tg.pushUpdate({ text: 'refused' });
    again.refuse(String(refused.update_id), Infinity);
    const second = await polling(tg, again, {}, run.stateDir);
    await eventually(() => again.calls.length >= 2, 'the refused update tried twice');
    await second.surface.stop();
    expect(new Set(again.calls.map((m) => m.dedupeId))).toEqual(new Set([String(refused.update_id)]));
    expect(second.surface.status().last_error).toContain(`delivering update ${refused.update_id} failed: mesh unreachable`);
    expect(readOffset(run.stateDir)).toBe(taken.update_id + 1);

    // A third run takes it, under the same dedupeId.
    const third = new Inbox();
    await polling(tg, third, {}, run.stateDir);
    await eventually(() => third.taken.length === 1, 'the refused update delivered after the restart');
    expect(third.calls.map((m) => m.dedupeId)).toEqual([String(refused.update_id)]);
  });
});

describe('start and stop', () => {
  it('removes a webhook left set before polling, and reports connected once getUpdates answered', async () => {
    const tg = await fake();
    await fetch(`${tg.apiRoot}/bot${TOKEN}/setWebhook`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"url":"https://old.example/hook"}' });
    expect(tg.webhook).toBeDefined();
    const inbox = new Inbox();
    const { surface } = await polling(tg, inbox);
    expect(tg.webhook).toBeUndefined();
    tg.pushUpdate({ text: 'by polling' });
    await eventually(() => inbox.taken.length === 1, 'delivered by polling');
    expect(surface.status()).toMatchObject({ connected: true, mode: 'polling', last_error: null });
    expect(tg.sent[tg.sent.length - 1]).toMatchObject({ method: 'deleteWebhook' });
  });

  it('stop() ends a waiting long poll at once and leaves no socket open', async () => {
    // The fake keeps idle connections as long as Telegram does: the surface has to close its own.
    const tg = await fake({ keepAliveMs: 120_000 });
    const before = tcpHandles();
    const { surface } = await polling(tg, new Inbox(), { poll_timeout_s: 50 });
    await tg.waitForCall('getUpdates');
    // A send beside the long poll leaves a second, idle kept-alive connection.
    await surface.send({ chat: '1', text: 'while polling' });
    expect(tcpHandles()).toBeGreaterThan(before);
    // The long poll would hold on for 50 s; the deadlines (far shorter) only detect that hang.
    await notHanging(surface.stop(), 'stop() waited for the long poll to end');
    await eventually(() => tcpHandles() <= before, 'every socket closed', 20_000);
    expect(surface.status().connected).toBe(false);
  });

  it('start() fails when Telegram refuses the token, and the Bot API going away is retried and reported, without a secret', async () => {
    const strict = await fake({ token: '999:another-bot' });
    const refused = makeSurface({ token: TOKEN, api_root: strict.apiRoot }, logs);
    const err = (await refused.surface.start(new Inbox().deliver).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe('telegram: deleteWebhook failed: Call to \'deleteWebhook\' failed! (401: Unauthorized) (check the bot token and api_root)');
    expect(refused.surface.status().last_error).toBe(err.message);

    const tg = await fake();
    const { surface } = await polling(tg, new Inbox());
    await tg.waitForCall('getUpdates');
    await tg.close();
    const refusedConnection = "telegram: getUpdates failed: Network request for 'getUpdates' failed! (ECONNREFUSED)";
    await eventually(() => surface.status().last_error === refusedConnection, 'the failed getUpdates reported');
    expect(surface.status().connected).toBe(false);
    expect(logs).toContain(surface.status().last_error);
    expect(logs.join('\n')).not.toContain(TOKEN.split(':')[1]);
  });
});

describe('TelegramSurfaceConfig', () => {
  it('defaults to polling with a 25 s long poll; a webhook listens on 127.0.0.1 at /telegram', () => {
    expect(TelegramSurfaceConfig.parse({ token_env: 'TELEGRAM_BOT_TOKEN' })).toEqual({ token_env: 'TELEGRAM_BOT_TOKEN', mode: 'polling', poll_timeout_s: 25 });
    expect(TelegramSurfaceConfig.parse({ token: TOKEN, mode: 'webhook', webhook: { port: 8443, secret_token_env: 'TG_SECRET' } }).webhook).toEqual({
      listen_host: '127.0.0.1',
      port: 8443,
      path: '/telegram',
      secret_token_env: 'TG_SECRET',
    });
  });

  it('wants exactly one of token and token_env, webhook settings only in webhook mode, and never echoes a secret', () => {
    const problems = (raw: unknown) => {
      const r = TelegramSurfaceConfig.safeParse(raw);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(problems({})).toEqual(['token: token (the value) or token_env (the name of an environment variable holding it) is required']);
    expect(problems({ token: TOKEN, token_env: 'T' })).toEqual(['token: give token or token_env, not both']);
    expect(problems({ token: TOKEN, mode: 'webhook' })).toEqual(['webhook: required with mode: webhook (listen_host, port, path, secret_token)']);
    expect(problems({ token: TOKEN, webhook: { port: 1, secret_token: 'abc' } })).toEqual(['webhook: only used with mode: webhook; remove it or set mode: webhook']);
    expect(problems({ token: TOKEN, mode: 'webhook', webhook: { port: 1 } })).toEqual(['webhook.secret_token: secret_token (the value) or secret_token_env (the name of an environment variable holding it) is required']);
    expect(problems({ token: TOKEN, poll_timeout_s: 600, surprise: 1 })).toHaveLength(2);
    const bad = [problems({ token: `bot${TOKEN}` }), problems({ token: TOKEN, mode: 'webhook', webhook: { port: 1, secret_token: `${WEBHOOK_SECRET} with spaces` } })].flat();
    expect(bad).toEqual(['token: a bot token as BotFather gives it (<digits>:<letters>)', 'webhook.secret_token: 1-256 characters, each A-Z, a-z, 0-9, _ or -']);
    expect(bad.join('\n')).not.toContain('SECRETvalue');
    expect(bad.join('\n')).not.toContain('TOKENvalue');
  });

  it('reads secrets from the variables *_env names, and names a missing variable without guessing its value', async () => {
    const tg = await fake({ token: TOKEN });
    const inbox = new Inbox();
    const run = makeSurface({ token_env: 'MY_TG_TOKEN', api_root: tg.apiRoot }, logs, { env: { MY_TG_TOKEN: TOKEN } });
    cleanups.push(() => run.surface.stop());
    await run.surface.start(inbox.deliver);
    tg.pushUpdate({ text: 'authorised' });
    await eventually(() => inbox.taken.length === 1, 'delivered with the token from the environment');
    expect(() => makeSurface({ token_env: 'MY_TG_TOKEN' }, logs, { env: {} })).toThrow('token_env: the environment variable MY_TG_TOKEN is not set or empty');
    expect(() => makeSurface({ token_env: 'MY_TG_TOKEN' }, logs, { env: { MY_TG_TOKEN: 'not a token' } })).toThrow('token_env: MY_TG_TOKEN does not hold a bot token');
  });
});

function readOffset(stateDir: string): number | undefined {
  try {
    return (JSON.parse(readFileSync(join(stateDir, 'telegram-offset.json'), 'utf8')) as { offset: number }).offset;
  } catch {
    return undefined;
  }
}

/** What Telegram would hand out to a getUpdates without an offset (one that confirms nothing). */
async function pendingAtTelegram(tg: FakeTelegram): Promise<Array<{ update_id: number }>> {
  const res = await fetch(`${tg.apiRoot}/bot${TOKEN}/getUpdates`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"timeout":0}' });
  return ((await res.json()) as { result: Array<{ update_id: number }> }).result;
}
