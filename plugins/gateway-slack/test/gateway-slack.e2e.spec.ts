import { describeGateway } from '../../../test/helpers/gateway-e2e.js';
import { startFakeSlack, type SlackEnvelope } from '../../../test/fakes/slack.js';

/** gateway-slack end to end: Bolt in Socket Mode against the local fake of the Web API and Socket Mode. */
describeGateway('gateway-slack (Bolt, Socket Mode) end to end', async () => {
  const fake = await startFakeSlack();
  const channel = 'C0CHANNEL1';
  return {
    plugin: 'gateway-slack',
    surface: 'slack',
    chat: channel,
    chatsYaml: `[{ chat: "${channel}", topic: general }]`,
    surfaceYaml: () => `slack: { bot_token: "xoxb-test-token", app_token: "xapp-test-token", mode: socket, api_url: "${fake.slackApiUrl}" }`,
    async say({ user, text }) {
      const first = await fake.pushEvent({ type: 'message', channel, channel_type: 'channel', user: `U${user}`, text });
      // As Slack does: an envelope not acknowledged within 3 seconds is sent again (same event_id),
      // to whichever connection the app has then (the gateway may be restarting).
      const untilAcked = async (from: SlackEnvelope): Promise<void> => {
        for (let e = from; ; e = await fake.redeliver(e)) {
          const acked = await Promise.race([fake.waitForAck(e.envelope_id).then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
          if (acked) return;
        }
      };
      await untilAcked(first);
      return { messageId: String(first.payload.event['ts']), chat: channel, redeliver: async () => untilAcked(await fake.redeliver(first)) };
    },
    sent: () => fake.posted.map((p) => ({ chat: p.channel, text: p.text ?? '', ...(p.thread_ts !== undefined ? { thread: p.thread_ts } : {}) })),
    throttle: (n, seconds) => fake.failNext('chat.postMessage', n, seconds),
    throttled: () => fake.calls.filter((c) => c.method === 'chat.postMessage' && c.status === 429).length,
    close: () => fake.close(),
  };
});
