import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where Claude Code keeps the files we touch, for the user whose HOME this is. */
export interface ClaudePaths {
  /** User-scope config: `mcpServers` lives here (what `claude mcp add -s user` writes). */
  claudeJson: string;
  /** User settings: `statusLine` lives here. */
  settingsJson: string;
  /** Our skill directory; everything in it is ours. */
  skillDir: string;
  skillFile: string;
}

/** HOME first (tests and sandboxes point it elsewhere), os.homedir() only as a fallback. */
export function claudePaths(env: NodeJS.ProcessEnv = process.env): ClaudePaths {
  const home = env['HOME'] || homedir();
  const skillDir = join(home, '.claude', 'skills', 'claudemesh');
  return {
    claudeJson: join(home, '.claude.json'),
    settingsJson: join(home, '.claude', 'settings.json'),
    skillDir,
    skillFile: join(skillDir, 'SKILL.md'),
  };
}

/** Shows a path with the home directory as `~`, for messages a human reads. */
export function tildify(path: string, env: NodeJS.ProcessEnv = process.env): string {
  const home = env['HOME'] || homedir();
  return path === home || path.startsWith(`${home}/`) ? `~${path.slice(home.length)}` : path;
}
