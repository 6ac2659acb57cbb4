import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/**
 * Debian's Chromium for the browser suites (docs/web.md "Tests"): the headless shell starts in a
 * fraction of the full browser's time. `.ci/run` installs it when missing; CLAUDEMESH_CHROMIUM
 * points elsewhere.
 */
export const CHROMIUM: string | null =
  process.env['CLAUDEMESH_CHROMIUM'] ?? ['/usr/lib/chromium/chromium-headless-shell', '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p)) ?? null;

/** CI sets CLAUDEMESH_TEST_BROWSER=required: a missing browser then fails instead of skipping. */
export function browserSkipReason(): string | null {
  if (CHROMIUM) return null;
  const why = 'no Chromium found (apt-get install --no-install-recommends chromium-headless-shell, or set CLAUDEMESH_CHROMIUM)';
  if (process.env['CLAUDEMESH_TEST_BROWSER'] === 'required') throw new Error(`CLAUDEMESH_TEST_BROWSER=required but ${why}`);
  return why;
}

/** As root Chromium runs only unsandboxed; the rest keeps it from calling home during tests. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM!,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-dev-shm-usage'],
  });
}

/** Everything a page logged as an error, and every Content-Security-Policy violation, to assert none. */
export function watchPage(page: Page): { errors: string[] } {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return { errors };
}

export async function newContext(browser: Browser, o: { phone?: boolean; dark?: boolean } = {}): Promise<BrowserContext> {
  return browser.newContext({
    ...(o.phone ? { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true } : { viewport: { width: 1280, height: 800 } }),
    colorScheme: o.dark ? 'dark' : 'light',
    reducedMotion: 'reduce',
  });
}
