import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFileAtomic } from './atomic-file.js';
import { bundledSkillPath } from './cli-location.js';
import type { ClaudePaths } from './paths.js';

export type SkillInstallAction = 'added' | 'updated' | 'unchanged';
export type SkillRemoveAction = 'removed' | 'absent' | 'kept-foreign';

/** Copies the bundled SKILL.md into ~/.claude/skills/claudemesh (an older copy is ours to refresh). */
export function installSkill(paths: ClaudePaths): SkillInstallAction {
  const bundled = readFileSync(bundledSkillPath(), 'utf8');
  const current = readIfExists(paths.skillFile);
  if (current === bundled) return 'unchanged';
  writeFileAtomic(paths.skillFile, bundled, 0o644);
  return current === null ? 'added' : 'updated';
}

/**
 * Removes the skill directory only when it holds nothing but a SKILL.md naming itself claudemesh:
 * anything else in there was put by the user, and deleting it is not ours to do.
 */
export function uninstallSkill(paths: ClaudePaths): SkillRemoveAction {
  let entries: string[];
  try {
    entries = readdirSync(paths.skillDir);
  } catch {
    return 'absent';
  }
  const skill = readIfExists(paths.skillFile);
  if (entries.length !== 1 || skill === null || !namesClaudemesh(skill)) return 'kept-foreign';
  rmSync(paths.skillDir, { recursive: true });
  return 'removed';
}

/** True when the frontmatter says `name: claudemesh`. */
export function namesClaudemesh(skill: string): boolean {
  const frontmatter = /^---\r?\n([\s\S]*?)\r?\n---/.exec(skill)?.[1] ?? '';
  return /^name:\s*["']?claudemesh["']?\s*$/m.test(frontmatter);
}

function readIfExists(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
