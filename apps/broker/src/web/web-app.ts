import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { gzipSync } from 'node:zlib';

/**
 * The policy of the web app's page (docs/web.md "Security"): its scripts, styles, manifest and
 * service worker from this origin only, API calls to this origin only; no inline script or style,
 * no eval, no framing, no plugins, no forms posting elsewhere. `'wasm-unsafe-eval'` lets the page
 * compile WebAssembly (libsodium, in the e2e chunk) and nothing else: JavaScript eval stays off.
 */
export const WEB_APP_CSP = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "manifest-src 'self'",
  "worker-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.txt': 'text/plain; charset=utf-8',
};

export interface WebAsset {
  body: Buffer;
  /** The same body gzipped, when that is smaller (text types). */
  gzip: Buffer | null;
  type: string;
  etag: string;
  /** Hashed names under assets/ never change: cached for a year. Everything else is revalidated. */
  immutable: boolean;
}

/** At most this much is loaded from the directory: a build is ~100 KB; anything near this is not ours. */
const MAX_TOTAL_BYTES = 32 * 1024 * 1024;

/**
 * The built web app (apps/web/dist), read once at start into memory with a gzipped copy of each text
 * file: a handful of small files, served with no file-system access per request (so no path can
 * reach outside the directory). Absent or without index.html: the broker serves no app.
 */
export class WebApp {
  private constructor(private readonly files: ReadonlyMap<string, WebAsset>) {}

  static load(dir: string): WebApp | null {
    if (!existsSync(join(dir, 'index.html'))) return null;
    const files = new Map<string, WebAsset>();
    let total = 0;
    const visit = (at: string): void => {
      for (const entry of readdirSync(at, { withFileTypes: true })) {
        const path = join(at, entry.name);
        if (entry.isDirectory()) visit(path);
        else if (entry.isFile() && TYPES[extname(entry.name)]) {
          total += statSync(path).size;
          if (total > MAX_TOTAL_BYTES) throw new Error(`the web app directory ${dir} holds more than ${MAX_TOTAL_BYTES} bytes; is CLAUDEMESH_WEB_DIR right?`);
          const body = readFileSync(path);
          const type = TYPES[extname(entry.name)]!;
          const zipped = /^(text|application)\//.test(type) ? gzipSync(body, { level: 9 }) : null;
          const name = relative(dir, path).split(sep).join('/');
          files.set(name, {
            body,
            gzip: zipped && zipped.length < body.length ? zipped : null,
            type,
            etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
            immutable: name.startsWith('assets/'),
          });
        }
      }
    };
    visit(dir);
    return new WebApp(files);
  }

  get index(): WebAsset {
    return this.files.get('index.html')!;
  }

  /** A file by its path under the directory (`assets/app-1a2b.js`, `sw.js`), or null. */
  file(path: string): WebAsset | null {
    return this.files.get(path) ?? null;
  }
}
