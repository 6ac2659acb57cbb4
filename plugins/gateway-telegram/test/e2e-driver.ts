import type { ChatDriver } from '../../../test/helpers/gateway-e2e.js';
import type { FakeTelegram } from '../../../test/fakes/telegram.js';

/** The end-to-end scenario's chat, played by the fake Bot API: a supergroup `chat` where users write, and what the bot sent. */
export function telegramChat(fake: FakeTelegram, chat: number, surfaceYaml: string): ChatDriver {
  return {
    plugin: 'gateway-telegram',
    surface: 'telegram',
    chat: String(chat),
    chatsYaml: `[{ chat: "${chat}", topic: general }]`,
    surfaceYaml: () => surfaceYaml,
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
}
