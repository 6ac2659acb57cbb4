import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/**
 * The directory of the @claudemesh/cli package this code runs from. Found by walking up rather
 * than by a fixed `../..`, so it stays right whether this runs from src (tests), dist, or a bundle.
 */
export function cliPackageRoot(): string {
  if (cachedRoot) return cachedRoot;
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (isCliPackage(join(dir, 'package.json'))) return (cachedRoot = dir);
    if (dirname(dir) === dir) throw new Error(`cannot find the @claudemesh/cli package above ${start}`);
  }
}

function isCliPackage(file: string): boolean {
  if (!existsSync(file)) return false;
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown }).name === '@claudemesh/cli';
  } catch {
    return false;
  }
}

/**
 * Whether this runs as the single binary (apps/cli/build-sea.mjs): its prelude sets the module URL
 * of the unpacked package folder before anything else runs.
 */
export function isSingleBinary(): boolean {
  return typeof (globalThis as { __claudemeshSeaUrl?: unknown }).__claudemeshSeaUrl === 'string';
}

/**
 * Absolute path of bin/claudemesh.js: Claude Code runs it with our node, so no PATH lookup is
 * involved. In the single binary it is the binary itself, which drops its own path when it gets it
 * as first argument, so every `<node> <cli bin> <verb>` the CLI spawns or writes runs the binary.
 */
export function cliBinPath(): string {
  return isSingleBinary() ? process.execPath : join(cliPackageRoot(), 'bin', 'claudemesh.js');
}

/**
 * The skill file shipped with the CLI: generated from the command tree and kept current by a test
 * (`claudemesh skill` prints it); installed when no live command tree is at hand (`launch`).
 */
export function bundledSkillPath(): string {
  return join(cliPackageRoot(), 'skill', 'SKILL.md');
}
