import { MeshApi, createApiKey, createMesh } from '@claudemesh/core';
import { generateIdentity } from '@claudemesh/crypto';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { percentile, round } from '../stats.js';
import type { MeshSystem } from '../transports/mesh.js';

export interface WebBenchOptions {
  /** Measured messages (after a tenth as many unmeasured ones). */
  messages: number;
  /** Milliseconds between posts: spaced, so each message is timed on its own, not queued behind others. */
  spacingMs: number;
  timeoutMs: number;
  log: (line: string) => void;
}

/** The baseline: the same topic's SSE stream read by a plain client in the bench process. */
export const WEB_BASELINE = 'sse-client';
const TOPIC = 'general';
const CHROMIUM = process.env['CLAUDEMESH_CHROMIUM'] ?? ['/usr/lib/chromium/chromium-headless-shell', '/usr/bin/chromium'].find((p) => existsSync(p));

const now = (): number => performance.timeOrigin + performance.now();
const tagOf = (text: string | undefined): number | null => {
  const m = /\bweb-bench-(\d+)\b/.exec(text ?? '');
  return m ? Number(m[1]) : null;
};

/**
 * What a first visit downloads, as the broker serves it: the page, then every script, style sheet,
 * module preload and the manifest it names, each gzipped as sent. Lazy chunks are not counted.
 */
async function firstLoad(url: string): Promise<{ bytes: number; files: number }> {
  const get = async (path: string): Promise<{ wire: number; text: string }> => {
    const res = await fetch(`${url}${path}`, { headers: { accept: path === '/' ? 'text/html' : '*/*', 'accept-encoding': 'gzip' } });
    const body = Buffer.from(await res.arrayBuffer());
    // fetch() hands back the bytes decoded; the wire size is what the broker gzipped.
    const zipped = res.headers.get('content-encoding') === 'gzip';
    return { wire: zipped ? Number(res.headers.get('content-length') ?? body.length) : body.length, text: body.toString('utf8') };
  };
  const page = await get('/');
  const refs = [...page.text.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1]!).filter((p) => /\.(js|css|webmanifest)$/.test(p));
  let bytes = page.wire;
  for (const ref of new Set(refs)) bytes += (await get(ref)).wire;
  return { bytes, files: 1 + new Set(refs).size };
}

/**
 * Records in the page when each tagged message is painted: inserted into the page, then the frame
 * that shows it (a timeout queued from requestAnimationFrame runs after that paint). A string, as
 * it runs in the page, not here.
 */
const WATCH_PAINTS = `(() => {
  const painted = new Map();
  window.__painted = painted;
  new MutationObserver((records) => {
    for (const r of records) for (const node of r.addedNodes) {
      if (!(node instanceof HTMLElement)) continue;
      const articles = node.matches('[data-testid="message"]') ? [node] : [...node.querySelectorAll('[data-testid="message"]')];
      for (const a of articles) {
        const body = a.querySelector('.body') || a;
        const tag = /^web-bench-(\\d+)\\b/.exec((body.textContent || '').trim());
        if (!tag || painted.has(Number(tag[1]))) continue;
        const n = Number(tag[1]);
        painted.set(n, -1);
        requestAnimationFrame(() => setTimeout(() => painted.set(n, performance.timeOrigin + performance.now()), 0));
      }
    }
  }).observe(document.body, { childList: true, subtree: true });
})()`;
const READ_PAINTS = '[...window.__painted].filter(([, t]) => t > 0)';

/**
 * `--scenario web`: an agent posts to a plaintext #general over REST; a signed-in browser (the real
 * web app in Chromium) paints each message, and a plain SSE client in this process reads the same
 * stream. Post-to-paint vs post-to-receipt (p50/p99), and the app's first-load size.
 */
export async function webBench(sys: MeshSystem, o: WebBenchOptions): Promise<Record<string, unknown>> {
  if (!CHROMIUM) throw new Error('no Chromium: apt-get install --no-install-recommends chromium-headless-shell, or set CLAUDEMESH_CHROMIUM');
  const owner = generateIdentity();
  const mesh = await createMesh(sys.url, { name: 'bench-web', owner, displayName: 'owner', adminToken: sys.adminToken, general: 'plaintext' });
  const agent = new MeshApi(sys.url, (await createApiKey(sys.url, owner, mesh.mesh_id, { label: 'agent', capabilities: ['read', 'send', 'admin'] })).secret);
  const viewer = await agent.createApiKey({ label: 'browser', capabilities: ['read', 'send'], human: 'viewer' });
  const reader = new MeshApi(sys.url, (await agent.createApiKey({ label: 'sse', capabilities: ['read'], human: 'sse-reader' })).secret);

  const load = await firstLoad(sys.url);
  o.log(`  first load: ${load.files} files, ${round(load.bytes / 1024, 1)} KB gzipped`);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-dev-shm-usage'] });
  const abort = new AbortController();
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await page.goto(`${sys.url}/`);
    await page.getByLabel('API key').fill(viewer.secret);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('log', { name: 'Messages' }).waitFor({ timeout: o.timeoutMs });
    await page.getByTestId('connection').filter({ hasText: 'live' }).waitFor({ timeout: o.timeoutMs });
    await page.evaluate(WATCH_PAINTS);

    const received = new Map<number, number>();
    await new Promise<void>((resolve, reject) => {
      const stream = reader.stream(TOPIC, { signal: abort.signal, onOpen: () => resolve() });
      void (async () => {
        for await (const { message } of stream) {
          const tag = tagOf(message.text);
          if (tag !== null && !received.has(tag)) received.set(tag, now());
        }
      })().catch((error: unknown) => abort.signal.aborted || reject(error));
    });

    const warm = Math.max(5, Math.round(o.messages / 10));
    const total = warm + o.messages;
    const sent = new Map<number, number>();
    o.log(`  ${total} posts (${warm} unmeasured), one every ${o.spacingMs} ms`);
    for (let i = 0; i < total; i++) {
      const started = now();
      sent.set(i, started);
      await agent.post(TOPIC, { text: `web-bench-${i} the agent says hello to the browser` });
      const wait = o.spacingMs - (now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    const deadline = Date.now() + o.timeoutMs;
    let painted = new Map<number, number>();
    for (;;) {
      painted = new Map(await page.evaluate<Array<[number, number]>>(READ_PAINTS));
      if ((painted.size >= total && received.size >= total) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (painted.size < total) {
      const shown = await page.evaluate<[number, number]>('[document.querySelectorAll(\'[data-testid="message"]\').length, window.__painted.size]');
      o.log(`  the page shows ${shown[0]} messages and saw ${shown[1]} tagged ones inserted; ${painted.size} of ${total} painted in time`);
    }
    const measured = [...sent.keys()].filter((i) => i >= warm);
    const lat = (at: Map<number, number>) => measured.filter((i) => at.has(i)).map((i) => at.get(i)! - sent.get(i)!);
    const paint = lat(painted);
    const sse = lat(received);
    const p = (v: number[], q: number) => round(percentile(v, q) ?? NaN, 2);
    return {
      messages: o.messages,
      spacing_ms: o.spacingMs,
      painted: paint.length,
      browser_paint_p50_ms: p(paint, 50),
      browser_paint_p99_ms: p(paint, 99),
      baseline_kind: WEB_BASELINE,
      sse_p50_ms: p(sse, 50),
      sse_p99_ms: p(sse, 99),
      added_p50_ms: round((percentile(paint, 50) ?? NaN) - (percentile(sse, 50) ?? NaN), 2),
      ratio_p50_to_baseline: round((percentile(paint, 50) ?? NaN) / (percentile(sse, 50) ?? NaN), 2),
      first_load_gzip_kb: round(load.bytes / 1024, 1),
      first_load_files: load.files,
      first_load_target_kb: 150,
    };
  } finally {
    abort.abort();
    await browser.close();
  }
}

/** The one line `npm run bench -- --scenario web` prints. */
export function webLine(r: Record<string, unknown>): string {
  return (
    `web (${String(r['db'])}): ${String(r['painted'])}/${String(r['messages'])} painted; post→paint p50 ${String(r['browser_paint_p50_ms'])} ms, p99 ${String(r['browser_paint_p99_ms'])} ms; ` +
    `${WEB_BASELINE} p50 ${String(r['sse_p50_ms'])} ms, p99 ${String(r['sse_p99_ms'])} ms (paint/baseline p50 ${String(r['ratio_p50_to_baseline'])}×, +${String(r['added_p50_ms'])} ms); ` +
    `first load ${String(r['first_load_gzip_kb'])} KB gzipped in ${String(r['first_load_files'])} files (target < ${String(r['first_load_target_kb'])} KB)`
  );
}
