import { describeGateway, freePort } from '../../../test/helpers/gateway-e2e.js';
import { signWhatsApp, startFakeWhatsApp, whatsappWebhookBody } from '../../../test/fakes/whatsapp.js';

/** gateway-whatsapp end to end: the Cloud API's webhooks into the gateway, its sends to the local fake of the Graph API. */
describeGateway('gateway-whatsapp (Cloud API webhooks) end to end', async () => {
  const fake = await startFakeWhatsApp({ accessToken: 'EAAG-test-token' });
  const port = await freePort();
  const appSecret = 'test-app-secret';
  const phoneNumberId = '100000000000001';
  return {
    plugin: 'gateway-whatsapp',
    surface: 'whatsapp',
    chat: 'direct',
    chatsYaml: '[{ chat: direct, topic: general }]',
    surfaceYaml: () => `whatsapp: { access_token: "EAAG-test-token", phone_number_id: "${phoneNumberId}", app_secret: "${appSecret}", verify_token: "verify-me", graph_url: "${fake.graphBase.replace(/\/v[0-9.]+$/, '')}", webhook: { port: ${port} } }`,
    async say({ user, name, text }) {
      const body = whatsappWebhookBody({ from: `1555${user}`, name, text, phoneNumberId });
      const raw = JSON.stringify(body);
      const id = ((body['entry'] as Array<{ changes: Array<{ value: { messages: Array<{ id: string }> } }> }>)[0]!.changes[0]!.value.messages[0]!.id);
      // As Meta does: delivered again until the webhook answers 200 (down, restarting, or an error).
      const post = async (): Promise<void> => {
        for (let attempt = 0; ; attempt++) {
          const status = await fetch(`http://127.0.0.1:${port}/whatsapp`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signWhatsApp(appSecret, raw) }, body: raw })
            .then((r) => r.status, () => 0);
          if (status === 200) return;
          if (attempt > 600) throw new Error(`the webhook kept answering ${status}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      await post();
      return { messageId: id, chat: `1555${user}`, redeliver: post };
    },
    sent: () => fake.sent.filter((s) => s.id !== undefined).map((s) => {
      const b = s.body as { to: string; text?: { body?: string }; context?: { message_id?: string } };
      return { chat: b.to, text: b.text?.body ?? '', ...(b.context?.message_id !== undefined ? { thread: b.context.message_id } : {}) };
    }),
    throttle: (n, seconds) => fake.failNext(n, seconds),
    throttled: () => fake.sent.filter((s) => s.status === 429).length,
    close: () => fake.close(),
  };
});
