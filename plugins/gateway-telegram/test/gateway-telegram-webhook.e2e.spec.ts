import { describeGateway, freePort } from '../../../test/helpers/gateway-e2e.js';
import { startFakeTelegram } from '../../../test/fakes/telegram.js';
import { telegramChat } from './e2e-driver.js';

/**
 * gateway-telegram end to end in webhook mode: the gateway registers its URL with the fake Bot API
 * at start (setWebhook, with its secret token), and the fake POSTs each update there, again until it
 * is answered 2xx, as Telegram does — through the kill -9 and the restart too.
 */
describeGateway('gateway-telegram (grammY, webhook) end to end', async () => {
  const fake = await startFakeTelegram({ token: '123456:TEST-token', webhookRetryMs: 50, webhookMaxAttempts: 2000 });
  const port = await freePort();
  return telegramChat(
    fake,
    -1005678,
    `telegram: { token: "123456:TEST-token", mode: webhook, api_root: "${fake.apiRoot}", webhook: { port: ${port}, secret_token: "webhook-secret-1", public_url: "http://127.0.0.1:${port}/telegram" } }`,
  );
});
