import { describeGateway } from '../../../test/helpers/gateway-e2e.js';
import { startFakeTelegram } from '../../../test/fakes/telegram.js';

/**
 * gateway-telegram end to end: grammY long polling against the local fake of the Bot API. Telegram
 * gives an update again only while its offset is not confirmed (no `redeliver` here): the adapter's
 * tests hold the offset back on a failed delivery, and the kill -9 below redelivers for real.
 */
describeGateway('gateway-telegram (grammY, long polling) end to end', async () => {
  const fake = await startFakeTelegram({ token: '123456:TEST-token' });
  const chat = -1001234;
  return {
    plugin: 'gateway-telegram',
    surface: 'telegram',
    chat: String(chat),
    chatsYaml: `[{ chat: "${chat}", topic: general }]`,
    surfaceYaml: () => `telegram: { token: "123456:TEST-token", mode: polling, api_root: "${fake.apiRoot}", poll_timeout_s: 1 }`,
    async say({ user, name, text }) {
      const u = fake.pushUpdate({ chat: { id: chat, type: 'supergroup', title: 'Ops' }, from: { id: Number(user), is_bot: false, first_name: name }, text });
      return { messageId: String(u.message!.message_id), chat: String(chat) };
    },
    sent: () => fake.sent.filter((c) => c.method === 'sendMessage' && c.status === 200).map((c) => {
      const reply = c.body['reply_parameters'] as { message_id?: number } | string | undefined;
      const thread = typeof reply === 'string' ? (JSON.parse(reply) as { message_id?: number }).message_id : reply?.message_id;
      return { chat: String(c.body['chat_id']), text: String(c.body['text']), ...(thread !== undefined ? { thread: String(thread) } : {}) };
    }),
    throttle: (n, seconds) => fake.failNext('sendMessage', n, seconds),
    throttled: () => fake.sent.filter((c) => c.method === 'sendMessage' && c.status === 429).length,
    close: () => fake.close(),
  };
});
