#!/usr/bin/env node
// Runs the esbuild bundle (dist-bundle/, what the npm package ships) when it exists, else tsc's
// dist/. In a checkout both exist: the bundle is skipped when tsc built after it (someone ran only
// `tsc -b`, so the bundle is stale) or when CLAUDEMESH_NO_BUNDLE=1 (e.g. to debug with source maps).
import { existsSync, statSync } from 'node:fs';

const here = new URL('./', import.meta.url);
const bundle = new URL('../dist-bundle/main.js', here);

function mtime(url) {
  try {
    return statSync(url).mtimeMs;
  } catch {
    return 0;
  }
}

function bundleIsCurrent() {
  if (process.env.CLAUDEMESH_NO_BUNDLE === '1') return false;
  const built = mtime(bundle);
  if (!built) return false;
  const tsc = new URL('../dist/.tsbuildinfo', here);
  if (!existsSync(tsc)) return true; // an installed package: no tsc output next to it
  const compiled = [tsc, new URL('../../../libs/core/dist/.tsbuildinfo', here), new URL('../../../libs/crypto/dist/.tsbuildinfo', here)];
  return compiled.every((file) => mtime(file) <= built);
}

await import(bundleIsCurrent() ? '../dist-bundle/main.js' : '../dist/main.js');
