/**
 * Builds the web app into apps/web/dist: index.html, hashed ESM and CSS under assets/, the
 * service worker (with the shell list written in), the manifest, the icons (drawn here, PNGs
 * encoded with node:zlib), and build-info.json with the first load's gzip size. Deterministic:
 * names come from content hashes and nothing records a time.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync, gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { iconSvg, pngIcon } from './icons.mjs';

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, 'dist');
const THEME = '#1f3a8a';
const BACKGROUND = '#0f172a';
const started = Date.now();

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, 'assets'), { recursive: true });
mkdirSync(join(dist, 'icons'), { recursive: true });

const app = await build({
  entryPoints: [join(root, 'src/main.ts')],
  bundle: true,
  format: 'esm',
  splitting: true,
  minify: true,
  target: ['es2022', 'chrome111', 'firefox111', 'safari16'],
  outdir: join(dist, 'assets'),
  entryNames: 'app-[hash]',
  chunkNames: 'chunk-[hash]',
  assetNames: 'asset-[hash]',
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
  // The e2e chunk runs the shared libraries from source: node:crypto from WebCrypto, one libsodium.
  alias: {
    'node:crypto': join(root, 'src/e2e/node-crypto.ts'),
    '@claudemesh/crypto': join(root, '../../libs/crypto/src/index.ts'),
  },
});

const outputs = Object.entries(app.metafile.outputs).map(([file, meta]) => ({ path: `/${relative(dist, file).split('\\').join('/')}`, meta }));
const entry = outputs.find((o) => o.meta.entryPoint && o.path.endsWith('.js'));
const css = outputs.find((o) => o.path.endsWith('.css'));
if (!entry || !css) throw new Error('the build produced no entry script or stylesheet');

const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="theme-color" content="${THEME}">
<title>claudemesh</title>
<link rel="manifest" href="/manifest.webmanifest">
<link rel="icon" href="/icons/icon.svg" type="image/svg+xml">
<link rel="apple-touch-icon" href="/icons/icon-192.png">
<link rel="stylesheet" href="${css.path}">
<script type="module" src="${entry.path}"></script>
</head>
<body>
<div id="app"></div>
<noscript>claudemesh needs JavaScript.</noscript>
</body>
</html>
`;
writeFileSync(join(dist, 'index.html'), html);

const manifest = {
  name: 'claudemesh',
  short_name: 'claudemesh',
  description: 'End-to-end encrypted mesh for agents and humans',
  start_url: '/',
  scope: '/',
  display: 'standalone',
  theme_color: THEME,
  background_color: BACKGROUND,
  icons: [
    { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png' },
    { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png' },
    { src: '/icons/icon.svg', sizes: 'any', type: 'image/svg+xml' },
    { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
  ],
};
writeFileSync(join(dist, 'manifest.webmanifest'), `${JSON.stringify(manifest, null, 2)}\n`);
writeFileSync(join(dist, 'icons/icon-192.png'), pngIcon(192, deflateSync));
writeFileSync(join(dist, 'icons/icon-512.png'), pngIcon(512, deflateSync));
writeFileSync(join(dist, 'icons/icon.svg'), iconSvg());

const shell = ['/', ...outputs.map((o) => o.path), '/manifest.webmanifest', '/icons/icon.svg', '/icons/icon-192.png', '/icons/icon-512.png'];
const version = createHash('sha256').update(html).update(shell.join('\n')).digest('hex').slice(0, 12);
await build({
  entryPoints: [join(root, 'sw/sw.ts')],
  bundle: true,
  format: 'iife',
  minify: true,
  target: 'es2022',
  outfile: join(dist, 'sw.js'),
  define: { __SHELL__: JSON.stringify(shell), __VERSION__: JSON.stringify(version) },
  legalComments: 'none',
  logLevel: 'warning',
});

const gz = (path) => gzipSync(readFileSync(join(dist, path)), { level: 9 }).length;
const files = {};
for (const path of ['/index.html', ...outputs.map((o) => o.path), '/sw.js', '/manifest.webmanifest', '/icons/icon.svg', '/icons/icon-192.png', '/icons/icon-512.png']) {
  const bytes = readFileSync(join(dist, path)).length;
  files[path] = { bytes, gzip_bytes: gz(path) };
}
const firstLoad = gz('/index.html') + gz(entry.path) + gz(css.path);
writeFileSync(join(dist, 'build-info.json'), `${JSON.stringify({ files, entry: entry.path, css: css.path, first_load_gzip_bytes: firstLoad }, null, 2)}\n`);
process.stdout.write(`apps/web: built in ${Date.now() - started} ms, first load ${(firstLoad / 1024).toFixed(1)} KB gzipped\n`);
