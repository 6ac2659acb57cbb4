import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFileAtomic } from './atomic-file.js';
import type { ClaudePaths } from './paths.js';

export type SkillInstallAction = 'added' | 'updated' | 'unchanged';
export type SkillRemoveAction = 'removed' | 'absent' | 'kept-foreign';

/**
 * Writes SKILL.md into ~/.claude/skills/claudemesh (an older copy is ours to refresh). The text is
 * generated from the live command tree (skill-text.ts), the same as the bundled skill/SKILL.md.
 */
export function installSkill(paths: ClaudePaths, skill: string): SkillInstallAction {
  const current = readIfExists(paths.skillFile);
  if (current === skill) return 'unchanged';
  writeFileAtomic(paths.skillFile, skill, 0o644);
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
