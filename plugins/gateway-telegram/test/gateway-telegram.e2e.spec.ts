import { describeGateway } from '../../../test/helpers/gateway-e2e.js';
import { startFakeTelegram } from '../../../test/fakes/telegram.js';
import { telegramChat } from './e2e-driver.js';

/**
 * gateway-telegram end to end: grammY long polling against the local fake of the Bot API. Telegram
 * gives an update again only while its offset is not confirmed (no `redeliver` here): the adapter's
 * tests hold the offset back on a failed delivery, and the kill -9 below redelivers for real.
 */
describeGateway('gateway-telegram (grammY, long polling) end to end', async () => {
  const fake = await startFakeTelegram({ token: '123456:TEST-token' });
  return telegramChat(fake, -1001234, `telegram: { token: "123456:TEST-token", mode: polling, api_root: "${fake.apiRoot}", poll_timeout_s: 1 }`);
});
