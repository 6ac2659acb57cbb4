/**
 * Sending through the Telegram surface, with grammY against the local fake of the Bot API: what
 * reaches Telegram, and how its refusals become RetryAfter, PermanentSendError or an error the core retries.
 */
import { inspect } from 'node:util';
import { PermanentSendError, RetryAfter } from '@claudemesh/gateway';
import { Api, GrammyError, HttpError } from 'grammy';
import { describe, expect, it } from 'vitest';
import type { FakeTelegram } from '../../../test/fakes/telegram.js';
import { freePort, makeSurface, TOKEN, trackResources } from './harness.js';

const { cleanups, logs, fake } = trackResources();

function surfaceOn(apiRoot: string) {
  const { surface } = makeSurface({ token: TOKEN, api_root: apiRoot }, logs);
  cleanups.push(() => surface.stop());
  return surface;
}

const sends = (tg: FakeTelegram) => tg.sent.filter((c) => c.method === 'sendMessage');

describe('send', () => {
  it('sends plain text to the chat, as a reply in its thread, without link previews, and answers the message id', async () => {
    const tg = await fake();
    const surface = surfaceOn(tg.apiRoot);
    expect(surface.maxText).toBe(4096);
    const asked = tg.pushUpdate({ chat: { id: -100777, type: 'supergroup', title: 'Mesh' }, text: 'status?' }).message!;
    const text = 'all green:\n```\nnpm test  # *not bold*, _not italic_\n```\nhttps://example.com/x';

    const { messageId } = await surface.send({ chat: '-100777', text, thread: String(asked.message_id) });
    expect(messageId).toMatch(/^\d+$/);
    expect(sends(tg)).toHaveLength(1);
    expect(sends(tg)[0]!.body).toEqual({
      chat_id: -100777,
      text,
      reply_parameters: { message_id: asked.message_id, allow_sending_without_reply: true },
      link_preview_options: { is_disabled: true },
    });

    await surface.send({ chat: '5550001', text: 'no thread' });
    expect(sends(tg)[1]!.body).toEqual({ chat_id: 5550001, text: 'no thread', link_preview_options: { is_disabled: true } });
    // The message answered is gone: the text still goes out.
    await surface.send({ chat: '-100777', text: 'late answer', thread: '999999' });
    expect(sends(tg).map((c) => c.status)).toEqual([200, 200, 200]);
  });

  it('a 429 becomes RetryAfter carrying retry_after in ms, and grammY does not retry by itself', async () => {
    const tg = await fake();
    const surface = surfaceOn(tg.apiRoot);
    tg.failNext('sendMessage', 1, 7);
    const err = await surface.send({ chat: '1', text: 'hi' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryAfter);
    expect((err as RetryAfter).ms).toBe(7000);
    expect(sends(tg).map((c) => c.status)).toEqual([429]);
    // The next call, the core's retry, goes through.
    await surface.send({ chat: '1', text: 'hi' });
    expect(sends(tg).map((c) => c.status)).toEqual([429, 200]);
  });

  it('a blocked or kicked bot, an unknown chat, an upgraded group and a refused token become PermanentSendError', async () => {
    const tg = await fake();
    const surface = surfaceOn(tg.apiRoot);
    const refusals = [
      { error_code: 403, description: 'Forbidden: bot was blocked by the user' },
      { error_code: 403, description: 'Forbidden: bot was kicked from the group chat' },
      { error_code: 400, description: 'Bad Request: chat not found' },
      { error_code: 400, description: 'Bad Request: group chat was upgraded to a supergroup chat', parameters: { migrate_to_chat_id: -1009876 } },
    ];
    const messages: string[] = [];
    for (const refusal of refusals) {
      tg.failNextWith('sendMessage', 1, refusal);
      const err = await surface.send({ chat: '-4242', text: 'hi' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentSendError);
      messages.push((err as Error).message);
    }
    expect(messages).toEqual([
      'telegram sendMessage: 403 Forbidden: bot was blocked by the user',
      'telegram sendMessage: 403 Forbidden: bot was kicked from the group chat',
      'telegram sendMessage: 400 Bad Request: chat not found',
      'telegram sendMessage: 400 Bad Request: group chat was upgraded to a supergroup chat (the group became the supergroup -1009876: link that chat instead)',
    ]);

    const strict = await fake({ token: '999:another-bot' });
    const err = await surfaceOn(strict.apiRoot).send({ chat: '1', text: 'hi' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentSendError);
    expect((err as Error).message).toBe('telegram sendMessage: 401 Unauthorized');
  });

  it('a server error or a network failure is thrown as it is, for the core to retry, and names no token even printed whole', async () => {
    const tg = await fake();
    tg.failNextWith('sendMessage', 1, { error_code: 502, description: 'Bad Gateway' });
    const serverError = await surfaceOn(tg.apiRoot).send({ chat: '1', text: 'hi' }).catch((e: unknown) => e);
    expect(serverError).toBeInstanceOf(GrammyError);
    expect(serverError).not.toBeInstanceOf(PermanentSendError);
    expect(serverError).toMatchObject({ error_code: 502 });

    const closed = `http://127.0.0.1:${await freePort()}`;
    const networkError = await surfaceOn(closed).send({ chat: '1', text: 'hi' }).catch((e: unknown) => e);
    expect(networkError).toBeInstanceOf(HttpError);
    expect(networkError).toMatchObject({ message: "Network request for 'sendMessage' failed!", error: { code: 'ECONNREFUSED' } });
    expect(inspect(networkError, { depth: 10 })).not.toContain(TOKEN);
    // What grammY alone would have shown: the request URL, token included.
    const bare = await new Api(TOKEN, { apiRoot: closed }).sendMessage(1, 'hi').catch((e: unknown) => e);
    expect(inspect(bare, { depth: 10 })).toContain(TOKEN);
  });
});
