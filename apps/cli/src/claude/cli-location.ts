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

/** Absolute path of bin/claudemesh.js: Claude Code runs it with our node, so no PATH lookup is involved. */
export function cliBinPath(): string {
  return join(cliPackageRoot(), 'bin', 'claudemesh.js');
}

/** The skill file shipped with the CLI, copied into ~/.claude/skills by `install`. */
export function bundledSkillPath(): string {
  return join(cliPackageRoot(), 'skill', 'SKILL.md');
}
