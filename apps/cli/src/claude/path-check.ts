import { cliBinPath } from './cli-location.js';
import { dirOnPath, isOurLauncher, launcherDir, launcherPath, pathLine, runsThisCli, whichClaudemesh } from './launcher.js';
import { tildify } from './paths.js';

export interface PathCheck {
  check: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

/**
 * Whether `claudemesh` typed in a shell (or by Claude's Bash tool) runs this CLI: every hint, the
 * skill and the MCP instructions say plain `claudemesh`.
 */
export function claudemeshOnPathCheck(env: NodeJS.ProcessEnv = process.env): PathCheck {
  const t = (p: string) => tildify(p, env);
  const check = 'claudemesh on PATH';
  const found = whichClaudemesh(env);
  const launcher = launcherPath(env);
  if (found && runsThisCli(found)) return { check, ok: true, detail: `${t(found)}${isOurLauncher(found) ? ' (the launcher claudemesh install wrote)' : ''}` };
  if (found) {
    return {
      check,
      ok: false,
      detail: `${t(found)} is another claudemesh, not this one (${t(cliBinPath())})`,
      fix: `claudemesh install writes ${t(launcher)}; put ${t(launcherDir(env))} before the other in PATH, or remove ${t(found)}`,
    };
  }
  if (isOurLauncher(launcher) && !dirOnPath(launcherDir(env), env)) {
    return { check, ok: false, detail: `${t(launcher)} is there, but ${t(launcherDir(env))} is not on PATH`, fix: pathLine(launcherDir(env), env) };
  }
  return { check, ok: false, detail: 'no claudemesh command on PATH', fix: 'claudemesh install (writes a launcher into ~/.local/bin)' };
}
