/**
 * The Slack surface against the local Slack fake (test/fakes/slack.ts): the real @slack/bolt,
 * @slack/socket-mode and WebClient, pointed at it with `api_url`. No mocks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PermanentSendError, RetryAfter, type ChatInbound } from '@claudemesh/gateway';
import { afterAll, describe, expect, it } from 'vitest';
import { signSlackRequest, slackEventCallback, startFakeSlack, type FakeSlack, type SlackEnvelope } from '../../../test/fakes/slack.js';
import { createSlackSurface, SlackSurfaceConfig, type SlackSurface } from '../src/slack-surface.js';
import { closeEverythingAfterEach } from '../../../test/helpers/tcp-cleanups.js';

const BOT_TOKEN = 'xoxb-1111-2222-BOTSECRETbotsecret';
const APP_TOKEN = 'xapp-1-A0FAKEAPP1-3333-APPSECRETappsecret';
const SIGNING_SECRET = 'signingSECRET0123456789abcdef';
const WRONG_TOKENS = ['xoxb-9999-WRONGBOTwrongbot', 'xapp-1-A0FAKEAPP1-9999-WRONGAPPwrongapp'];
const SECRETS = [BOT_TOKEN, APP_TOKEN, SIGNING_SECRET, ...WRONG_TOKENS];

/** Every line any surface of this file logged, and every message of an error it threw. */
const logs: string[] = [];
const thrown: string[] = [];
const stateDir = mkdtempSync(join(tmpdir(), 'cmh-slack-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

const cleanups = closeEverythingAfterEach();

/** Polls a condition that a peer settles asynchronously; the deadline only turns a hang into a failure. */
async function until(what: string, cond: () => boolean): Promise<void> {
  for (let waited = 0; !cond(); waited += 20) {
    if (waited > 30_000) throw new Error(`still waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function fakeSlack(): Promise<FakeSlack> {
  const fake = await startFakeSlack({ botToken: BOT_TOKEN, appToken: APP_TOKEN });
  cleanups.push(() => fake.close());
  return fake;
}

function surfaceFor(fake: FakeSlack, settings: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): SlackSurface {
  const config = SlackSurfaceConfig.parse({ api_url: fake.slackApiUrl, ...settings });
  const surface = createSlackSurface(config, { log: (line) => logs.push(line), stateDir, env });
  cleanups.push(() => surface.stop());
  return surface;
}

/** A `deliver` that records what it got; `behave` decides, per call, how it settles. */
function inbox() {
  const got: ChatInbound[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const box = {
    got,
    behave: (_m: ChatInbound, _i: number): Promise<void> => Promise.resolve(),
    deliver: (m: ChatInbound): Promise<void> => {
      got.push(m);
      for (const w of waiters.filter((w) => got.length >= w.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
      return box.behave(m, got.length - 1);
    },
    /** Resolves once `n` deliveries were made in total. */
    async count(n: number): Promise<ChatInbound[]> {
      if (got.length < n) await new Promise<void>((resolve) => waiters.push({ n, resolve }));
      return got.slice();
    },
  };
  return box;
}

function deferred() {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

async function socketSurface(fake: FakeSlack, box = inbox()) {
  const surface = surfaceFor(fake, { bot_token: BOT_TOKEN, app_token_env: 'TEST_SLACK_APP_TOKEN' }, { TEST_SLACK_APP_TOKEN: APP_TOKEN });
  await surface.start(box.deliver);
  await fake.connected();
  return { surface, box };
}

describe('Slack surface, Socket Mode', () => {
  it('delivers a channel message with its event_id, ts and the sender named by users.info, then acknowledges it', async () => {
    const fake = await fakeSlack();
    const { surface, box } = await socketSurface(fake);
    expect(fake.calls.find((c) => c.method === 'apps.connections.open')?.token).toBe(APP_TOKEN);
    expect(surface.status()).toMatchObject({ connected: true, mode: 'socket', last_event_at: null });

    const envelope = await fake.pushEvent({ type: 'message', channel: 'C0MESH0001', user: 'U0ADA00001', text: 'hi <@U0BOB00002>, see <https://example.org/a?b=1&amp;c=2|the doc> &amp; <!here>' });
    await fake.waitForAck(envelope.envelope_id);
    const [m] = await box.count(1);
    expect(m).toEqual({
      dedupeId: envelope.payload.event_id,
      chat: 'C0MESH0001',
      user: 'U0ADA00001',
      userName: 'user-u0ada00001',
      text: 'hi @user-u0bob00002, see the doc (https://example.org/a?b=1&c=2) & @here',
      messageId: envelope.payload.event['ts'],
      attachments: [],
      direct: false,
    });
    expect(surface.status().last_event_at).not.toBeNull();
  });

  it('maps a thread reply, a thread parent, a shared file with its size, a DM and a private channel', async () => {
    const fake = await fakeSlack();
    const { box } = await socketSurface(fake);
    const parentTs = '1700000000.000100';
    const pushed = [
      await fake.pushEvent({ type: 'message', text: 'in the thread', thread_ts: parentTs }),
      await fake.pushEvent({ type: 'message', text: 'the parent', ts: parentTs, thread_ts: parentTs }),
      await fake.pushEvent({ type: 'message', subtype: 'file_share', text: '', files: [{ id: 'F0FILE0001', name: 'report.pdf', size: 48213, mimetype: 'application/pdf' }] }),
      await fake.pushEvent({ type: 'message', channel: 'D0DM000001', channel_type: 'im', text: 'just us' }),
      await fake.pushEvent({ type: 'message', channel: 'G0PRIV0001', channel_type: 'group', text: 'private channel' }),
      await fake.pushEvent({ type: 'message', subtype: 'thread_broadcast', text: 'also to the channel', thread_ts: parentTs }),
    ];
    const got = await box.count(pushed.length);
    const byId = new Map(got.map((m) => [m.dedupeId, m]));
    const of = (e: SlackEnvelope) => byId.get(e.payload.event_id)!;
    const [reply, parent, file, dm, group, broadcast] = pushed.map(of);
    expect(reply).toMatchObject({ text: 'in the thread', thread: parentTs, direct: false });
    expect(parent).not.toHaveProperty('thread');
    expect(parent!.messageId).toBe(parentTs);
    expect(file).toMatchObject({ text: '', attachments: [{ name: 'report.pdf', size: 48213, mime: 'application/pdf' }] });
    expect(dm).toMatchObject({ chat: 'D0DM000001', direct: true, text: 'just us' });
    expect(group).toMatchObject({ chat: 'G0PRIV0001', direct: false });
    expect(broadcast).toMatchObject({ text: 'also to the channel', thread: parentTs });
  });

  it('acknowledges bot posts, edits, joins and other events without delivering them', async () => {
    const fake = await fakeSlack();
    const { box } = await socketSurface(fake);
    const skipped = [
      await fake.pushEvent({ type: 'message', user: fake.botUser.user_id, bot_id: fake.botUser.bot_id, text: 'our own post' }),
      await fake.pushEvent({ type: 'message', bot_id: 'B0OTHER001', text: 'another bot' }),
      await fake.pushEvent({ type: 'message', subtype: 'message_changed', message: { text: 'edited' } }),
      await fake.pushEvent({ type: 'message', subtype: 'channel_join', text: '<@U0HUMAN001> has joined the channel' }),
      await fake.pushEvent({ type: 'reaction_added', user: 'U0HUMAN001', reaction: 'tada', item: { type: 'message', channel: 'C0CHANNEL1', ts: '1700000000.000100' } }),
    ];
    // An envelope is acked only after Bolt finished with it, so by now every listener has run.
    for (const e of skipped) await fake.waitForAck(e.envelope_id);
    expect(box.got).toEqual([]);
    const spoken = await fake.pushEvent({ type: 'message', text: 'a person' });
    const [m] = await box.count(1);
    expect(m!.dedupeId).toBe(spoken.payload.event_id);
  });

  it('acknowledges an envelope only after deliver resolved', async () => {
    const fake = await fakeSlack();
    const box = inbox();
    const held = deferred();
    box.behave = (_m, i) => (i === 0 ? held.promise : Promise.resolve());
    await socketSurface(fake, box);

    const envelope = await fake.pushEvent({ type: 'message', text: 'take your time' });
    await box.count(1);
    // A later envelope's ack travels the same socket: had the first been acked before deliver, it arrived first.
    const later = await fake.pushEvent({ type: 'message', bot_id: 'B0OTHER001', text: 'barrier' });
    await fake.waitForAck(later.envelope_id);
    expect(fake.acks.map((a) => a.envelope_id)).not.toContain(envelope.envelope_id);

    held.resolve();
    const ack = await fake.waitForAck(envelope.envelope_id);
    expect(ack.envelope_id).toBe(envelope.envelope_id);
  });

  it('leaves an envelope unacknowledged when deliver rejects; the redelivery carries the same dedupeId and is acknowledged', async () => {
    const fake = await fakeSlack();
    const box = inbox();
    box.behave = (_m, i) => (i === 0 ? Promise.reject(new Error('mesh unreachable')) : Promise.resolve());
    const { surface } = await socketSurface(fake, box);

    const first = await fake.pushEvent({ type: 'message', text: 'keep trying' });
    await box.count(1);
    const later = await fake.pushEvent({ type: 'message', bot_id: 'B0OTHER001', text: 'barrier' });
    await fake.waitForAck(later.envelope_id);
    expect(fake.acks.map((a) => a.envelope_id)).not.toContain(first.envelope_id);
    expect(surface.status().last_error).toContain(first.payload.event_id);

    const again = await fake.redeliver(first);
    await fake.waitForAck(again.envelope_id);
    const [a, b] = await box.count(2);
    expect(b!.dedupeId).toBe(a!.dedupeId);
    expect(a!.dedupeId).toBe(first.payload.event_id);
    expect(b!.messageId).toBe(a!.messageId);
    expect(fake.acks.map((x) => x.envelope_id)).not.toContain(first.envelope_id);
  });

  it('names a user by id when users.info fails, asks again next time, then keeps the name', async () => {
    const fake = await fakeSlack();
    const { box } = await socketSurface(fake);
    fake.refuseNext('users.info', 'user_not_found');
    for (let i = 1; i <= 3; i++) {
      await fake.pushEvent({ type: 'message', user: 'U0CAROL001', text: `message ${i}` });
      await box.count(i);
    }
    expect(box.got.map((m) => m.userName)).toEqual(['U0CAROL001', 'user-u0carol001', 'user-u0carol001']);
    expect(fake.calls.filter((c) => c.method === 'users.info')).toHaveLength(2);
  });

  it('reports the connection lost when Slack asks it to reconnect, and receives again once reconnected', async () => {
    const fake = await fakeSlack();
    const { surface, box } = await socketSurface(fake);
    fake.disconnectAll('refresh_requested');
    await until('the surface reports the connection lost', () => !surface.status().connected);
    // The client waits a few seconds before it reconnects on its own.
    await fake.connected();
    await until('the surface reports the connection back', () => surface.status().connected);
    const envelope = await fake.pushEvent({ type: 'message', text: 'after the refresh' });
    await fake.waitForAck(envelope.envelope_id);
    expect((await box.count(1)).map((m) => m.text)).toEqual(['after the refresh']);
    expect(fake.calls.filter((c) => c.method === 'apps.connections.open')).toHaveLength(2);
  });

  it('stop() closes the Socket Mode connection', async () => {
    const fake = await fakeSlack();
    const { surface } = await socketSurface(fake);
    expect(fake.openSockets()).toBe(1);
    await surface.stop();
    expect(surface.status().connected).toBe(false);
    await until('the fake sees the socket closed', () => fake.openSockets() === 0);
  });

  it('stop() lets a delivery under way finish and acknowledges it before closing the socket', async () => {
    const fake = await fakeSlack();
    const box = inbox();
    const held = deferred();
    box.behave = () => held.promise;
    const { surface } = await socketSurface(fake, box);
    const envelope = await fake.pushEvent({ type: 'message', text: 'almost there' });
    await box.count(1);
    const stopped = surface.stop();
    held.resolve();
    await stopped;
    expect(fake.acks.map((a) => a.envelope_id)).toContain(envelope.envelope_id);
    await until('the fake sees the socket closed', () => fake.openSockets() === 0);
  });

  it('start() fails with a clear message, naming no secret, when a token is refused', async () => {
    const fake = await fakeSlack();
    const wrongApp = surfaceFor(fake, { bot_token: BOT_TOKEN, app_token: WRONG_TOKENS[1] });
    const appErr = await wrongApp.start(() => Promise.resolve()).then(() => null, (e: Error) => e);
    thrown.push(appErr!.message);
    expect(appErr!.message).toMatch(/^slack: could not start \(socket mode\): invalid_auth/);
    expect(wrongApp.status()).toMatchObject({ connected: false, last_error: appErr!.message });

    const wrongBot = surfaceFor(fake, { bot_token: WRONG_TOKENS[0], app_token: APP_TOKEN });
    const botErr = await wrongBot.start(() => Promise.resolve()).then(() => null, (e: Error) => e);
    thrown.push(botErr!.message);
    expect(botErr!.message).toBe('slack: the bot token was not accepted (auth.test: invalid_auth)');
    expect(fake.openSockets()).toBe(0);
  });
});

describe('Slack surface, send', () => {
  it('posts to the chat and thread without unfurling, with Slack markup escaped, and returns the ts', async () => {
    const fake = await fakeSlack();
    const { surface } = await socketSurface(fake);
    const threaded = await surface.send({ chat: 'C0MESH0001', text: 'done <!channel> & a<b', thread: '1700000000.000100' });
    const plain = await surface.send({ chat: 'D0DM000001', text: 'hello' });
    const [p1, p2] = await fake.waitForPosts(2);
    expect(p1).toMatchObject({ channel: 'C0MESH0001', text: 'done &lt;!channel&gt; &amp; a&lt;b', thread_ts: '1700000000.000100' });
    expect(String(p1!.body['unfurl_links'])).toBe('false');
    expect(String(p1!.body['unfurl_media'])).toBe('false');
    expect(threaded.messageId).toBe(p1!.ts);
    expect(p2).toMatchObject({ channel: 'D0DM000001', text: 'hello' });
    expect(p2).not.toHaveProperty('thread_ts');
    expect(plain.messageId).toBe(p2!.ts);
    expect(fake.calls.find((c) => c.method === 'chat.postMessage')?.token).toBe(BOT_TOKEN);
  });

  it('a 429 becomes RetryAfter with the advertised delay in ms; the client itself does not retry', async () => {
    const fake = await fakeSlack();
    const surface = surfaceFor(fake, { bot_token: BOT_TOKEN, app_token: APP_TOKEN });
    fake.failNext('chat.postMessage', 1, 7);
    const err = await surface.send({ chat: 'C0MESH0001', text: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryAfter);
    expect((err as RetryAfter).ms).toBe(7000);
    expect(fake.calls.filter((c) => c.method === 'chat.postMessage').map((c) => c.status)).toEqual([429]);
  });

  it.each(['channel_not_found', 'not_in_channel', 'is_archived', 'invalid_auth', 'account_inactive', 'token_revoked'])('a %s refusal becomes PermanentSendError', async (code) => {
    const fake = await fakeSlack();
    const surface = surfaceFor(fake, { bot_token: BOT_TOKEN, app_token: APP_TOKEN });
    fake.refuseNext('chat.postMessage', code);
    const err = await surface.send({ chat: 'C0MESH0001', text: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentSendError);
    expect((err as Error).message).toBe(`slack: chat.postMessage to C0MESH0001 refused: ${code}`);
    expect(surface.status().last_error).toBe(`send to C0MESH0001: ${code}`);
  });

  it('a refused bot token is permanent; a passing failure is rethrown as it came', async () => {
    const fake = await fakeSlack();
    const wrong = surfaceFor(fake, { bot_token: WRONG_TOKENS[0], app_token: APP_TOKEN });
    const refused = await wrong.send({ chat: 'C0MESH0001', text: 'x' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PermanentSendError);
    thrown.push((refused as Error).message);

    const surface = surfaceFor(fake, { bot_token: BOT_TOKEN, app_token: APP_TOKEN });
    fake.refuseNext('chat.postMessage', 'internal_error');
    const passing = await surface.send({ chat: 'C0MESH0001', text: 'x' }).catch((e: unknown) => e);
    expect(passing).not.toBeInstanceOf(PermanentSendError);
    expect(passing).not.toBeInstanceOf(RetryAfter);
    expect(passing).toMatchObject({ data: { error: 'internal_error' } });
    expect(fake.posted).toEqual([]);
  });
});

describe('Slack surface, HTTP request URL', () => {
  async function httpSurface(fake: FakeSlack, box = inbox()) {
    const surface = surfaceFor(fake, { mode: 'http', bot_token_env: 'TEST_SLACK_BOT', signing_secret: SIGNING_SECRET, port: 0, path: '/hooks/slack' }, { TEST_SLACK_BOT: BOT_TOKEN });
    await surface.start(box.deliver);
    const { port } = surface.address()!;
    const post = async (body: string, headers: Record<string, string>) => {
      const res = await fetch(`http://127.0.0.1:${port}/hooks/slack`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      return { status: res.status, text: await res.text() };
    };
    return { surface, box, port, post, signed: (body: string, extra: Record<string, string> = {}) => post(body, { ...signSlackRequest(SIGNING_SECRET, body), ...extra }) };
  }

  it('answers the url_verification challenge of a signed request', async () => {
    const fake = await fakeSlack();
    const { surface, signed } = await httpSurface(fake);
    expect(surface.status()).toMatchObject({ connected: true, mode: 'http' });
    const body = JSON.stringify({ token: 'x', challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P', type: 'url_verification' });
    const res = await signed(body);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P' });
  });

  it('answers a signed event 200 only after deliver resolved', async () => {
    const fake = await fakeSlack();
    const box = inbox();
    const held = deferred();
    box.behave = (_m, i) => (i === 0 ? held.promise : Promise.resolve());
    const { signed } = await httpSurface(fake, box);

    const payload = slackEventCallback({ type: 'message', channel: 'C0MESH0001', user: 'U0ADA00001', text: 'over http', thread_ts: '1700000000.000100' });
    let answered: number | undefined;
    const first = signed(JSON.stringify(payload)).then((r) => (answered = r.status));
    const [m] = await box.count(1);
    expect(m).toMatchObject({ dedupeId: payload.event_id, chat: 'C0MESH0001', userName: 'user-u0ada00001', text: 'over http', thread: '1700000000.000100' });
    // A second request answered in full: an answer to the first, written before deliver ran, would have been read by now.
    expect((await signed(JSON.stringify(slackEventCallback({ type: 'message', bot_id: 'B0OTHER001', text: 'barrier' })))).status).toBe(200);
    expect(answered).toBeUndefined();

    held.resolve();
    await first;
    expect(answered).toBe(200);
  });

  it("answers 500 when deliver rejects; Slack's retry of the same event delivers the same dedupeId", async () => {
    const fake = await fakeSlack();
    const box = inbox();
    box.behave = (_m, i) => (i === 0 ? Promise.reject(new Error('mesh unreachable')) : Promise.resolve());
    const { signed } = await httpSurface(fake, box);

    const body = JSON.stringify(slackEventCallback({ type: 'message', text: 'retry me' }));
    expect((await signed(body)).status).toBe(500);
    expect((await signed(body, { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_error' })).status).toBe(200);
    const [a, b] = await box.count(2);
    expect(b!.dedupeId).toBe(a!.dedupeId);
    expect(a!.dedupeId).toBe((JSON.parse(body) as { event_id: string }).event_id);
  });

  it('refuses a bad signature, a stale timestamp and a missing signature with 401, delivering nothing', async () => {
    const fake = await fakeSlack();
    const { box, post, signed } = await httpSurface(fake);
    const body = JSON.stringify(slackEventCallback({ type: 'message', text: 'forged' }));
    const now = Math.floor(Date.now() / 1000);
    expect((await post(body, signSlackRequest('not-the-secret', body))).status).toBe(401);
    expect((await post(body, signSlackRequest(SIGNING_SECRET, body, now - 6 * 60))).status).toBe(401);
    expect((await post(body, {})).status).toBe(401);
    // The body altered after signing.
    expect((await post(body.replace('forged', 'altered'), signSlackRequest(SIGNING_SECRET, body))).status).toBe(401);
    expect(box.got).toEqual([]);

    const genuine = JSON.stringify(slackEventCallback({ type: 'message', text: 'genuine' }));
    expect((await signed(genuine)).status).toBe(200);
    expect((await box.count(1)).map((m) => m.text)).toEqual(['genuine']);
  });

  it('stop() closes the listening server', async () => {
    const fake = await fakeSlack();
    const { surface, port } = await httpSurface(fake);
    await surface.stop();
    expect(surface.status().connected).toBe(false);
    expect(surface.address()).toBeNull();
    await expect(fetch(`http://127.0.0.1:${port}/hooks/slack`, { method: 'POST', body: '{}' })).rejects.toThrow();
  });
});

describe('Slack surface config', () => {
  const issues = (input: unknown) => {
    const r = SlackSurfaceConfig.safeParse(input);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('has Socket Mode and local HTTP defaults', () => {
    expect(SlackSurfaceConfig.parse({ bot_token: BOT_TOKEN, app_token: APP_TOKEN })).toEqual({
      bot_token: BOT_TOKEN,
      app_token: APP_TOKEN,
      mode: 'socket',
      listen_host: '127.0.0.1',
      port: 3000,
      path: '/slack/events',
    });
  });

  it('wants each secret exactly once, inline or from the environment, and only the current mode’s', () => {
    expect(issues({ app_token: APP_TOKEN })).toEqual(['bot_token: bot_token or bot_token_env is required']);
    expect(issues({ bot_token: BOT_TOKEN, bot_token_env: 'SLACK_BOT_TOKEN', app_token: APP_TOKEN })).toEqual(['bot_token_env: give bot_token or bot_token_env, not both']);
    expect(issues({ bot_token: BOT_TOKEN })).toEqual(['app_token: app_token or app_token_env is required in socket mode']);
    expect(issues({ bot_token: BOT_TOKEN, mode: 'http' })).toEqual(['signing_secret: signing_secret or signing_secret_env is required in http mode']);
    expect(issues({ bot_token: BOT_TOKEN, app_token: APP_TOKEN, signing_secret_env: 'S' })).toEqual(['signing_secret_env: only used in http mode; remove it or change mode']);
    expect(issues({ bot_token_env: 'SLACK BOT', app_token: APP_TOKEN })).toEqual(['bot_token_env: must be the name of an environment variable']);
    expect(issues({ bot_token: BOT_TOKEN, app_token: APP_TOKEN, colour: 'red' })).toHaveLength(1);
  });

  it('says what kind of token is expected without repeating the value', () => {
    const mixedUp = issues({ bot_token: APP_TOKEN, app_token: BOT_TOKEN });
    expect(mixedUp).toEqual([
      'bot_token: must be a bot token (xoxb-…, OAuth & Permissions → Bot User OAuth Token)',
      'app_token: must be an app-level token (xapp-…, Basic Information → App-Level Tokens)',
    ]);
    thrown.push(...mixedUp);
  });

  it('reads *_env secrets from the given environment, naming the variable when it is unset or wrong', () => {
    const config = SlackSurfaceConfig.parse({ bot_token_env: 'MY_SLACK_BOT', app_token_env: 'MY_SLACK_APP' });
    const make = (env: NodeJS.ProcessEnv) => {
      try {
        createSlackSurface(config, { log: (l) => logs.push(l), stateDir, env });
        return 'created';
      } catch (e) {
        thrown.push((e as Error).message);
        return (e as Error).message;
      }
    };
    expect(make({ MY_SLACK_BOT: BOT_TOKEN, MY_SLACK_APP: APP_TOKEN })).toBe('created');
    expect(make({ MY_SLACK_APP: APP_TOKEN })).toBe('slack: bot_token_env names MY_SLACK_BOT, which is not set');
    expect(make({ MY_SLACK_BOT: APP_TOKEN, MY_SLACK_APP: APP_TOKEN })).toBe('slack: MY_SLACK_BOT (bot_token_env) must hold a bot token (xoxb-…, OAuth & Permissions → Bot User OAuth Token)');
  });
});

describe('Slack surface logs', () => {
  // Runs last: the tests above made surfaces log refusals, failed deliveries and failed starts.
  it('no log line and no error message carried a secret', () => {
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.some((l) => l.includes('not taken over'))).toBe(true);
    expect(thrown.length).toBeGreaterThan(0);
    for (const line of [...logs, ...thrown]) for (const s of SECRETS) expect(line).not.toContain(s);
  });
});
