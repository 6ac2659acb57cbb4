import { EpochKeyring, MeshApi, createApiKey, createWebSignIn, keyringAuthorities, meshMembersWithKeys, openTopicMessages, topicSendEncrypted } from '@claudemesh/core';
import type { Identity } from '@claudemesh/crypto';
import { copyFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { browserSkipReason, launchBrowser, newContext, watchPage } from '../../../test/helpers/browser.js';

const skip = browserSkipReason();
const SHOTS = fileURLToPath(new URL('./screenshots/', import.meta.url));
const README_SHOTS = fileURLToPath(new URL('../../../docs/images/', import.meta.url));
/** Only a hang trips these: a loaded 2-core machine may take seconds to paint. */
const WAIT = { timeout: 30_000 };

/**
 * The web app in a real Chromium against a real broker (docs/web.md "Tests"): two humans signed in
 * with API keys in two browser contexts, an agent posting over REST, one phone-sized context.
 * Screenshots land in apps/web/test/screenshots/ (CLAUDEMESH_SCREENSHOTS=docs also copies the
 * README's to docs/images/).
 */
describe.skipIf(skip !== null)(`the web app in Chromium${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let browser: Browser;
  let agent: MeshApi;
  let agentId: Identity;
  const keys = {} as Record<'dana' | 'erin' | 'fay', string>;
  const pages = {} as Record<'dana' | 'erin', Page>;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  const shot = async (page: Page, name: string, readme = false): Promise<void> => {
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: `${SHOTS}${name}.png` });
    if (readme && process.env['CLAUDEMESH_SCREENSHOTS'] === 'docs') {
      mkdirSync(README_SHOTS, { recursive: true });
      copyFileSync(`${SHOTS}${name}.png`, `${README_SHOTS}web-${name}.png`);
    }
  };

  const open = async (o: { phone?: boolean; dark?: boolean } = {}): Promise<Page> => {
    const context = await newContext(browser, o);
    contexts.push(context);
    const page = await context.newPage();
    const { errors } = watchPage(page);
    // Not faults of the page: requests refused while the context is offline on purpose, and the 4xx
    // answers this suite asks for (a wrong key, a used link, a revoked key), which Chromium logs.
    const expected = /ERR_INTERNET_DISCONNECTED|net::ERR_|Failed to load resource: the server responded with a status of 4\d\d/;
    page.on('close', () => problems.push(...errors.filter((e) => !expected.test(e))));
    return page;
  };

  const signIn = async (page: Page, key: string): Promise<void> => {
    await page.goto(`${tb.url}/`);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'Topics' }).getByRole('link', { name: /#general/ }).waitFor(WAIT);
  };

  const messages = (page: Page) => page.getByRole('log', { name: 'Messages' }).locator('[data-testid="message"]');
  const messageWith = (page: Page, text: string) => messages(page).filter({ hasText: text });
  const composer = (page: Page) => page.getByLabel('Message', { exact: true });
  const say = async (page: Page, text: string): Promise<void> => {
    await composer(page).fill(text);
    await composer(page).press('Enter');
    await messageWith(page, text).waitFor(WAIT);
  };
  const restAs = (key: string) => new MeshApi(tb.url, key);

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    mesh = await createTestMesh(tb, 'web', { general: 'plaintext' });
    const owner = (body: Parameters<typeof createApiKey>[3]) => createApiKey(tb.url, mesh.owner, mesh.meshId, body);
    for (const name of ['dana', 'erin', 'fay'] as const) keys[name] = (await owner({ label: name, capabilities: ['read', 'send'], human: name })).secret;
    agentId = await addMember(tb, mesh, 'agent');
    agent = restAs((await createApiKey(tb.url, agentId, mesh.meshId, { capabilities: ['read', 'send'] })).secret);
    await agent.createTopic({ name: 'ops', encryption: 'plaintext' });
    await agent.post('general', { text: 'Welcome to **#general** — the agent is here.' });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await tb?.close();
  });

  it('signs in with an API key and shows #general with its history', async () => {
    pages.dana = await open();
    await pages.dana.goto(`${tb.url}/`);
    await pages.dana.getByRole('form', { name: 'Sign in' }).waitFor(WAIT);
    await shot(pages.dana, 'signin');
    await pages.dana.getByLabel('API key').fill('cmk_0000000000000000_nope');
    await pages.dana.getByRole('button', { name: 'Sign in' }).click();
    await pages.dana.getByRole('alert').waitFor(WAIT);
    expect(await pages.dana.getByRole('alert').textContent()).toMatch(/unknown|malformed|API key/i);
    await signIn(pages.dana, keys.dana);
    await messageWith(pages.dana, 'the agent is here').waitFor(WAIT);
    // Markdown rendered as elements, not HTML from the message.
    expect(await messageWith(pages.dana, 'the agent is here').locator('strong').textContent()).toBe('#general');
  });

  it('shows a post in another browser at once, and an agent’s reply without a reload', async () => {
    pages.erin = await open();
    await signIn(pages.erin, keys.erin);
    await say(pages.dana, 'hello from dana in the browser');
    await messageWith(pages.erin, 'hello from dana in the browser').waitFor(WAIT);
    const posted = (await agent.history('general')).messages.find((m) => m.text === 'hello from dana in the browser')!;
    expect(posted.sender.display_name).toBe('dana');
    await agent.post('general', { text: 'agent: got it, dana', reply_to: posted.id });
    for (const page of [pages.dana, pages.erin]) await messageWith(page, 'agent: got it, dana').waitFor(WAIT);
    // On screen in the open topic: read, so no badge.
    await pages.dana.getByTestId('unread-general').waitFor({ state: 'detached', ...WAIT });
    await shot(pages.dana, 'chat', true);
  });

  it('badges unread messages of another topic live, and clears them once the topic is viewed', async () => {
    const dana = pages.dana;
    await dana.getByRole('button', { name: 'Join #ops' }).click();
    await dana.getByRole('navigation', { name: 'Topics' }).getByRole('link', { name: /#ops/ }).waitFor(WAIT);
    await dana.getByRole('navigation', { name: 'Topics' }).getByRole('link', { name: /#general/ }).click();
    await agent.post('ops', { text: 'deploy starts in 5 minutes' });
    await agent.post('ops', { text: 'deploy done' });
    const badge = dana.getByTestId('unread-ops');
    await expect.poll(async () => (await badge.count()) > 0 ? await badge.textContent() : null, WAIT).toBe('2');
    await dana.getByRole('navigation', { name: 'Topics' }).getByRole('link', { name: /#ops/ }).click();
    await messageWith(dana, 'deploy done').waitFor(WAIT);
    await dana.getByTestId('first-unread').waitFor(WAIT);
    await badge.waitFor({ state: 'detached', ...WAIT });
    await expect.poll(async () => (await restAs(keys.dana).topics()).find((t) => t.name === 'ops')?.unread, WAIT).toBe(0);
    await dana.getByRole('navigation', { name: 'Topics' }).getByRole('link', { name: /#general/ }).click();
  });

  it('completes @mentions from the keyboard, and the mention reaches the agent', async () => {
    const dana = pages.dana;
    await composer(dana).fill('');
    await composer(dana).pressSequentially('@ag');
    const list = dana.getByRole('listbox', { name: 'Mention suggestions' });
    await list.waitFor(WAIT);
    await expect.poll(() => list.getByRole('option').allTextContents(), WAIT).toEqual([expect.stringContaining('agent')]);
    await composer(dana).press('ArrowDown');
    await composer(dana).press('ArrowUp');
    await composer(dana).press('Enter');
    expect(await composer(dana).inputValue()).toBe('@agent ');
    await composer(dana).pressSequentially('please review the release notes');
    await composer(dana).press('Enter');
    await messageWith(dana, 'please review the release notes').waitFor(WAIT);
    await expect.poll(async () => (await agent.notifications({ unread: true })).map((n) => [n.kind, n.actor.display_name, n.message.text]), WAIT)
      .toContainEqual(['mention', 'dana', '@agent please review the release notes']);
  });

  it('answers in a thread', async () => {
    const dana = pages.dana;
    await messageWith(dana, 'agent: got it, dana').getByRole('button', { name: 'Reply in thread' }).click();
    const thread = dana.getByRole('complementary', { name: 'Thread' });
    await thread.waitFor(WAIT);
    await thread.getByRole('textbox', { name: 'Reply' }).fill('threaded answer from dana');
    await thread.getByRole('button', { name: 'Send reply' }).click();
    await thread.getByText('threaded answer from dana').waitFor(WAIT);
    const history = (await agent.history('general')).messages;
    const parent = history.find((m) => m.text === 'hello from dana in the browser')!;
    const reply = history.find((m) => m.text === 'threaded answer from dana')!;
    // A reply to a reply joins the thread of its root.
    expect([parent.id, history.find((m) => m.text === 'agent: got it, dana')!.id]).toContain(reply.reply_to);
  });

  it('finds a message by search', async () => {
    const dana = pages.dana;
    await dana.getByLabel('Search messages').fill('release notes');
    await dana.getByLabel('Search messages').press('Enter');
    const results = dana.getByRole('list', { name: 'Search results' });
    await results.waitFor(WAIT);
    await results.getByText('please review the release notes').waitFor(WAIT);
    await dana.getByLabel('Search messages').press('Escape');
  });

  it('renders HTML and script in a message as text, and links only to http(s) and mailto', async () => {
    const evil = '<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> [click](javascript:window.__xss=3) <b>bold?</b>';
    await agent.post('general', { text: evil });
    const shown = messageWith(pages.dana, 'window.__xss=2');
    await shown.waitFor(WAIT);
    expect(await shown.locator('.body').textContent()).toContain('<img src=x onerror="window.__xss=1">');
    expect(await shown.locator('.body').textContent()).toContain('<b>bold?</b>');
    expect(await shown.locator('img, script, b, iframe').count()).toBe(0);
    expect(await shown.locator('a[href^="javascript:"]').count()).toBe(0);
    await shown.getByText('click').click().catch(() => undefined);
    expect(await pages.dana.evaluate('window.__xss')).toBeUndefined();
  });

  it('resumes after a disconnect with Last-Event-ID: nothing missed, nothing twice', async () => {
    const dana = pages.dana;
    const streams: Array<string | null> = [];
    dana.on('request', (r) => {
      if (/\/api\/v1\/topics\/general\/stream/.test(r.url())) streams.push(r.headers()['last-event-id'] ?? null);
    });
    const lastSeen = await messages(dana).last().getAttribute('data-id');
    await dana.context().setOffline(true);
    await expect.poll(() => dana.getByTestId('connection').textContent(), WAIT).toBe('reconnecting');
    for (let i = 1; i <= 3; i++) await agent.post('general', { text: `while you were away ${i}` });
    await dana.context().setOffline(false);
    await messageWith(dana, 'while you were away 3').waitFor(WAIT);
    await expect.poll(() => dana.getByTestId('connection').textContent(), WAIT).toBe('live');
    expect(streams).toContain(lastSeen);
    const ids = await messages(dana).evaluateAll((els) => els.map((e) => e.getAttribute('data-id')));
    expect(new Set(ids).size).toBe(ids.length);
    const texts = await messages(dana).allTextContents();
    const away = texts.map((t) => /while you were away (\d)/.exec(t)?.[1]).filter(Boolean);
    expect(away).toEqual(['1', '2', '3']);
  });

  it('works on a phone-sized screen: panels behind buttons, chat full width', async () => {
    const phone = await open({ phone: true, dark: true });
    await phone.goto(`${tb.url}/`);
    await phone.getByLabel('API key').fill(keys.fay);
    await phone.getByRole('button', { name: 'Sign in' }).click();
    await messageWith(phone, 'while you were away 3').waitFor(WAIT);
    expect(await phone.getByRole('navigation', { name: 'Topics' }).isVisible()).toBe(false);
    await phone.getByRole('button', { name: 'Topics' }).click();
    await phone.getByRole('navigation', { name: 'Topics' }).waitFor({ state: 'visible', ...WAIT });
    await phone.getByRole('navigation', { name: 'Topics' }).getByRole('link', { name: /#general/ }).click();
    await phone.getByRole('navigation', { name: 'Topics' }).waitFor({ state: 'hidden', ...WAIT });
    await say(phone, 'fay here, on my phone');
    await messageWith(pages.dana, 'fay here, on my phone').waitFor(WAIT);
    await shot(phone, 'phone', true);
    // The system's dark scheme is followed; the toggle pins dark, then light, then follows again.
    const background = () => phone.evaluate<string>('getComputedStyle(document.body).backgroundColor');
    const DARK = 'rgb(15, 23, 42)';
    const LIGHT = 'rgb(255, 255, 255)';
    expect(await background()).toBe(DARK);
    const toggle = phone.getByRole('button', { name: 'Theme' });
    await toggle.click();
    expect(await phone.evaluate<string | undefined>('document.documentElement.dataset.theme')).toBe('dark');
    expect(await background()).toBe(DARK);
    await toggle.click();
    expect(await background()).toBe(LIGHT);
    await toggle.click();
    expect(await background()).toBe(DARK);
  });

  it('signs in from a one-time claudemesh web link that leaves no code behind, once', async () => {
    const member = await createApiKey(tb.url, agentId, mesh.meshId, { label: 'web sign-in', capabilities: ['read', 'send'], expires_in_s: 3600 });
    const link = await createWebSignIn(tb.url, member.secret);
    const page = await open();
    await page.goto(link.link);
    await page.getByRole('navigation', { name: 'Topics' }).getByRole('link', { name: /#general/ }).waitFor(WAIT);
    await messageWith(page, 'fay here, on my phone').waitFor(WAIT);
    expect(page.url()).not.toContain(link.code);
    expect(await page.evaluate<string>('location.href')).not.toContain('code=');
    const again = await open();
    await again.goto(link.link);
    await again.getByRole('alert').waitFor(WAIT);
    expect(await again.getByRole('alert').textContent()).toMatch(/unknown, used or expired/);
  });

  it('shows the dashboard: unread totals, mentions, presence', async () => {
    const dana = pages.dana;
    await agent.post('ops', { text: '@dana can you check the dashboard?' });
    await dana.goto(`${tb.url}/#/`);
    await dana.getByRole('heading', { level: 1 }).waitFor(WAIT);
    await dana.getByRole('region', { name: 'Recent mentions' }).getByText('@dana can you check the dashboard?').waitFor(WAIT);
    await dana.getByRole('region', { name: /Presence/ }).getByText('agent', { exact: true }).first().waitFor(WAIT);
    await shot(dana, 'dashboard', true);
  });

  it('shows the owner with an admin key the mesh\'s delivery health, and a plain member none', async () => {
    const ownerKey = (await createApiKey(tb.url, mesh.owner, mesh.meshId, { label: 'owner web', capabilities: ['read', 'send', 'admin'] })).secret;
    const page = await open();
    await signIn(page, ownerKey);
    await page.goto(`${tb.url}/#/`);
    const health = page.getByRole('region', { name: 'Delivery health in web' });
    await health.waitFor(WAIT);
    // The page shows what the broker answers the same key (the answer flushes the node's counts first).
    const answer = (await (await fetch(`${tb.url}/api/v1/analytics?window=24h`, { headers: { authorization: `Bearer ${ownerKey}` } })).json()) as { totals: { topic_posts: number } };
    expect(answer.totals.topic_posts).toBeGreaterThan(0);
    await expect.poll(async () => Number(await health.getByTestId('health-posts').textContent()), WAIT).toBeGreaterThanOrEqual(answer.totals.topic_posts - 1);
    await health.getByRole('link', { name: '#general' }).waitFor(WAIT);
    expect(await pages.dana.getByRole('region', { name: /Delivery health/ }).count()).toBe(0);
  });

  it('installs as an app: a manifest, a service worker, and reopens offline on its last view', async () => {
    const dana = pages.dana;
    expect(await dana.locator('link[rel="manifest"]').getAttribute('href')).toBe('/manifest.webmanifest');
    const manifest = (await (await fetch(`${tb.url}/manifest.webmanifest`)).json()) as { display: string; start_url: string; icons: Array<{ sizes: string }> };
    expect(manifest).toMatchObject({ display: 'standalone', start_url: '/' });
    expect(manifest.icons.map((i) => i.sizes)).toEqual(expect.arrayContaining(['192x192', '512x512']));
    for (const icon of ['/icons/icon-192.png', '/icons/icon-512.png']) expect((await fetch(`${tb.url}${icon}`)).headers.get('content-type')).toBe('image/png');
    expect(await dana.evaluate('navigator.serviceWorker.ready.then((r) => Boolean(r.active))')).toBe(true);
    await dana.goto(`${tb.url}/#/m/${mesh.meshId}/t/general`);
    await messageWith(dana, 'fay here, on my phone').waitFor(WAIT);
    // Once the worker controls the page (after a load), it keeps the shell and the last answers.
    await dana.reload();
    await messageWith(dana, 'fay here, on my phone').waitFor(WAIT);
    await dana.context().setOffline(true);
    try {
      await dana.reload();
      await messageWith(dana, 'fay here, on my phone').waitFor(WAIT);
      expect(await dana.getByTestId('connection').textContent()).toBe('reconnecting');
    } finally {
      await dana.context().setOffline(false);
    }
    await expect.poll(() => dana.getByTestId('connection').textContent(), WAIT).toBe('live');
  });

  it('reads and writes an end-to-end encrypted #general with the key this browser made and claimed', async () => {
    const secret = await createTestMesh(tb, 'web-e2e', { general: 'e2e' });
    const bot = await addMember(tb, secret, 'bot');
    const botApi = restAs((await createApiKey(tb.url, bot, secret.meshId, { capabilities: ['read', 'send'] })).secret);
    const botRing = new EpochKeyring({ me: bot, meshId: secret.meshId, authorities: keyringAuthorities((await botApi.members()) as never) });
    const botSend = (text: string) => topicSendEncrypted(botApi, botRing, 'general', text, { members: () => meshMembersWithKeys(botApi) });
    await botSend('sealed before hana had a key');
    const hanaKey = (await createApiKey(tb.url, secret.owner, secret.meshId, { capabilities: ['read', 'send'], human: 'hana' })).secret;

    const page = await open();
    await signIn(page, hanaKey);
    // The browser claimed a key of its own: the broker now lists hana with it, no longer REST-only.
    await expect.poll(async () => (await botApi.members()).find((m) => m.display_name === 'hana')?.rest_only, WAIT).toBe(false);
    // Sent before the claim: sealed to the members of that epoch only, so it stays closed here.
    await messages(page).first().getByText('waiting for a key from a member').waitFor(WAIT);
    // Her first post comes before any member has handed her the topic's key: refused in the page,
    // kept with Retry, nothing sent in the clear.
    await composer(page).fill('hana seals this one in the browser, @bot have a look');
    await composer(page).press('Enter');
    const pending = page.getByTestId('pending-message');
    await pending.getByText(/no key for #general yet/).waitFor(WAIT);
    // The bot's next post rotates the key to include her (docs/topics.md "Rotation before the next send").
    await botSend('sealed after hana claimed her key');
    await messageWith(page, 'sealed after hana claimed her key').waitFor(WAIT);
    await pending.getByRole('button', { name: 'Retry' }).click();
    await messageWith(page, 'hana seals this one in the browser, @bot have a look').waitFor(WAIT);
    const history = (await botApi.history('general')).messages;
    const hanas = history.filter((m) => m.sender.display_name === 'hana');
    expect(hanas.map((m) => [m.body_version, m.text])).toEqual([[2, undefined]]);
    expect(hanas[0]!.mentions).toEqual([bot.publicKey]);
    const opened = await openTopicMessages(botApi, botRing, history);
    expect(opened.map((m) => m.text)).toEqual(['sealed before hana had a key', 'sealed after hana claimed her key', 'hana seals this one in the browser, @bot have a look']);
    expect(await pending.count()).toBe(0);
    // The broker stored ciphertext only: no plaintext of hana's in any row it serves.
    expect(JSON.stringify(history)).not.toContain('have a look');
    await page.getByTestId('unread-general').waitFor({ state: 'detached', ...WAIT });
    await shot(page, 'e2e', true);

    // The member list tells a keyed member from one without a key, in words.
    const members = page.getByRole('complementary', { name: 'Members' });
    const member = (name: string) => members.getByRole('listitem').filter({ has: page.getByText(name, { exact: true }) });
    await expect.poll(() => member('hana').locator('.key').textContent(), WAIT).toMatch(/^key [0-9a-f]{4} [0-9a-f]{4} /);
    expect(await member('owner').locator('.key').textContent()).toMatch(/^key /);

    // A reload keeps the key (IndexedDB) and opens the topic again.
    await page.reload();
    await messageWith(page, 'hana seals this one in the browser').waitFor(WAIT);
    await messageWith(page, 'sealed after hana claimed her key').waitFor(WAIT);
  });

  it('signs out by revoking its key', async () => {
    const erin = pages.erin;
    await erin.getByRole('button', { name: 'Sign out' }).click();
    await erin.getByRole('form', { name: 'Sign in' }).waitFor(WAIT);
    await expect(restAs(keys.erin).topics()).rejects.toMatchObject({ code: 'E_UNAUTHORIZED' });
  });

  it('ran under its Content-Security-Policy without a violation or a script error', async () => {
    for (const c of contexts) for (const p of c.pages()) await p.close();
    expect(problems.join('\n')).toBe('');
  });
});

